import { setTimeout as sleep } from 'node:timers/promises'
import { backoff, FailureLog, type ReconnectStrategy } from './reconnect.js'
import { BaseSource, type SourceContext } from './source.js'

/**
 * A source that holds one link to a vendor at a time and reconnects (the LQ socket, the LClient
 * DLL): a session runs until the link ends; then the status says `reconnecting` (`failed` after
 * `failAfter` failed attempts in a row), the backoff waits, and a new session starts. The backoff
 * restarts after a link that worked. While there is no link the source's channels are `unknown`
 * (like a polled source that is `down`). Subclasses provide the session and their own start/stop.
 */
/** The keys both link sources' configs share. */
export interface LinkConfig {
  readonly id: string
  readonly reconnectSeconds: number
  readonly failAfter: number
  /** IANA zone of the vendor's pop times; default the daemon's */
  readonly timeZone?: string
  readonly popStateSeconds: number
}

export abstract class LinkSource extends BaseSource {
  protected readonly abort = new AbortController()
  protected loop: Promise<void> | null = null
  /** epoch ms the current link came up, null while there is none */
  protected connectedAt: number | null = null
  /** the same for every pop of this source */
  protected readonly popOpts: { timeZone?: string; popStateSeconds: number }
  private readonly strategy: ReconnectStrategy
  private readonly failureLog: FailureLog

  constructor(
    private readonly link: LinkConfig,
    ctx: SourceContext,
    opts: { strategy?: ReconnectStrategy; words: ConstructorParameters<typeof FailureLog>[1] },
  ) {
    super(link.id, ctx)
    this.popOpts = { timeZone: link.timeZone ?? ctx.timeZone, popStateSeconds: link.popStateSeconds }
    this.strategy = opts.strategy ?? backoff({ capMs: link.reconnectSeconds * 1000 })
    this.failureLog = new FailureLog(ctx.log, opts.words)
  }

  /**
   * One link, from connect to close. Resolves (true if it worked) when it closed cleanly; rejects
   * with `worked: true` on the error when a link that had worked died.
   */
  protected abstract session(): Promise<boolean | void>

  /** An error retrying cannot fix: handle it and return true to end the loop (default: none is). */
  protected async permanent(_err: Error): Promise<boolean> {
    return false
  }

  /** The strategy gave up (after setting `failed`). */
  protected async gaveUp(): Promise<void> {}

  /** True while the current run of attempts has failed at least once. */
  protected get failing(): boolean {
    return this.failureLog.failing
  }

  /** The link is up: status `connected`, failure logging reset. */
  protected linkUp(): void {
    this.connectedAt = Date.now()
    this.failureLog.recovered()
    this.setStatus('connected', undefined)
  }

  /** What happens on the lines while there is no link cannot be known: they are never left looking as they were. */
  private linesUnknown(): void {
    try {
      this.ctx.table.updateSource(this.id, { state: 'unknown' })
    } catch (err) {
      // a table listener's bug must not end the reconnect loop
      this.ctx.log.error({ err }, 'marking the channels unknown failed')
    }
  }

  protected runLoop(): void {
    this.loop = this.run().catch((err) => this.ctx.log.error({ err }, 'source loop ended unexpectedly'))
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal
    let attempt = 0
    while (!signal.aborted) {
      let worked = false
      let cause = new Error('closed')
      try {
        worked = (await this.session()) === true
      } catch (err) {
        if (signal.aborted) break
        cause = err as Error
        if (await this.permanent(cause)) return
        worked = (cause as { worked?: boolean }).worked === true
        this.ctx.metrics.reconnects.inc({ source: this.id })
        this.failureLog.note(cause, worked)
        this.lastError = cause.message
      }
      if (signal.aborted) break
      this.connectedAt = null
      this.linesUnknown()
      attempt = worked ? 0 : attempt + 1
      if (!worked) this.failures++
      this.setStatus(this.failures >= this.link.failAfter ? 'failed' : 'reconnecting')
      const wait = this.strategy(attempt, cause)
      if (wait === false) {
        this.setStatus('failed')
        await this.gaveUp()
        return
      }
      try {
        await sleep(wait, undefined, { signal })
      } catch {
        break
      }
    }
  }
}
