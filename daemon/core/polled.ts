import { HttpTimeoutError, HttpUnreachableError } from '../../protocols/http/client.js'
import { VendorTimeout } from './control.js'
import { BaseSource, type SourceContext } from './source.js'

export interface PollOptions {
  /** time between the end of one poll and the start of the next */
  pollMs: number
  /** polls in a row that must fail before the source is `down` and its channels `unknown` */
  downAfter?: number
}

/**
 * A vendor we learn about by polling over HTTP (LQ vack, Guoxin, Yantong). One poll at a time; a
 * poll that throws counts as a failure; `downAfter` failures in a row set the status `down` and
 * every channel of the source `unknown` (never left looking idle); the next good poll sets
 * `connected` and the poll itself rewrites the real states.
 */
export abstract class PolledSource extends BaseSource {
  private timer: NodeJS.Timeout | null = null
  private running = false
  private abort: AbortController | null = null
  private polling: Promise<void> | null = null
  protected polls = 0
  protected lastPollAt: number | null = null
  protected lastPollMs: number | null = null

  constructor(
    id: string,
    ctx: SourceContext,
    protected readonly pollOpts: PollOptions,
  ) {
    super(id, ctx)
  }

  /** One round of queries; applies what it learns to the table. Throws when the vendor did not answer properly. */
  protected abstract poll(signal: AbortSignal): Promise<void>

  start(): void {
    if (this.running) return
    this.running = true
    this.setStatus('connecting')
    this.schedule(0)
  }

  async stop(): Promise<void> {
    this.running = false
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.abort?.abort()
    await this.polling?.catch(() => {})
    this.setStatus('stopped')
  }

  /** Poll now (e.g. after a control action), unless a poll is already running. */
  pollSoon(): void {
    if (!this.running || this.polling) return
    if (this.timer) clearTimeout(this.timer)
    this.schedule(0)
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = null
      this.polling = this.round().finally(() => {
        this.polling = null
        if (this.running) this.schedule(this.pollOpts.pollMs)
      })
    }, ms)
  }

  private async round(): Promise<void> {
    this.abort = new AbortController()
    const t0 = performance.now()
    try {
      await this.poll(this.abort.signal)
      this.polls++
      this.lastPollAt = Date.now()
      this.lastPollMs = performance.now() - t0
      this.failures = 0
      if (this.running) this.setStatus('connected')
    } catch (err) {
      if (!this.running) return
      this.failures++
      const msg = (err as Error).message
      this.lastError = msg
      this.ctx.metrics.reconnects.inc({ source: this.id })
      if (this.failures >= (this.pollOpts.downAfter ?? 1)) {
        if (this.status !== 'down') this.ctx.log.warn({ err: msg, failures: this.failures }, 'vendor stopped answering; source down, channels unknown')
        this.setStatus('down', msg)
        this.ctx.table.updateSource(this.id, { state: 'unknown' })
      }
    } finally {
      this.abort = null
    }
  }

  protected override detail(): Record<string, unknown> {
    return { pollMs: this.pollOpts.pollMs, polls: this.polls, lastPollAt: this.lastPollAt && new Date(this.lastPollAt).toISOString(), lastPollMs: this.lastPollMs }
  }
}

/** Map a transport failure of a control call to the API's 504; anything else passes through. */
export function asVendorTimeout(source: string, timeoutMs: number, err: unknown): unknown {
  if (err instanceof HttpTimeoutError) return new VendorTimeout(source, timeoutMs)
  if (err instanceof HttpUnreachableError) return new VendorTimeout(source, timeoutMs, err.reason)
  return err
}
