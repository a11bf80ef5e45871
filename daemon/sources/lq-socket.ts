import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { LqConnectDecoder, encodeRegistration, encodeTryRep, type FrameError } from '../../protocols/lq-connect/index.js'
import { backoff, FailureLog, type ReconnectStrategy } from '../reconnect.js'
import { BaseSource, type SourceContext } from './source.js'
import type { LqSocketConfig } from './lq-socket-config.js'


/**
 * 小灵呼 LQ-Connect raw socket client ("模式五"): connect, register, answer TRY_REQ with TRY_REP,
 * feed pop frames to the hub. Silence for expireSeconds means the link is dead; reconnects back off
 * exponentially up to reconnectSeconds. Everything that goes wrong stays inside this source.
 */
export class LqSocketSource extends BaseSource {
  readonly type = 'lq-socket'
  private socket: Socket | null = null
  private readonly abort = new AbortController()
  private loop: Promise<void> | null = null
  private readonly strategy: ReconnectStrategy
  private connectedAt: number | null = null
  private bytesIn = 0
  private framesIn = 0
  private readonly failureLog: FailureLog
  /** the same for every pop of this source */
  private readonly popOpts: { timeZone?: string; popStateSeconds: number }

  constructor(
    readonly cfg: LqSocketConfig,
    ctx: SourceContext,
    opts: { strategy?: ReconnectStrategy } = {},
  ) {
    super(cfg.id, ctx)
    this.failureLog = new FailureLog(ctx.log, { lost: 'LQ link lost', failed: 'LQ connection failed', still: 'LQ server still unreachable' })
    this.strategy = opts.strategy ?? backoff({ capMs: cfg.reconnectSeconds * 1000 })
    this.popOpts = { timeZone: cfg.timeZone ?? ctx.timeZone, popStateSeconds: cfg.popStateSeconds }
  }

  protected override detail(): Record<string, unknown> {
    return {
      host: this.cfg.host,
      port: this.cfg.port,
      oper: this.cfg.oper,
      ch: this.cfg.ch,
      connectedAt: this.connectedAt ? new Date(this.connectedAt).toISOString() : null,
      bytesIn: this.bytesIn,
      framesIn: this.framesIn,
    }
  }

  start(): void {
    if (this.loop) return
    this.setStatus('connecting')
    this.loop = this.run().catch((err) => this.ctx.log.error({ err }, 'source loop ended unexpectedly'))
  }

  async stop(): Promise<void> {
    this.abort.abort()
    this.socket?.destroy()
    await this.loop
    this.setStatus('stopped')
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal
    let attempt = 0
    while (!signal.aborted) {
      let worked = false
      try {
        worked = await this.session()
      } catch (err) {
        if (signal.aborted) break
        const e = err as Error
        worked = (e as { worked?: boolean }).worked === true
        this.ctx.metrics.reconnects.inc({ source: this.id })
        this.noteFailure(e, worked)
      }
      if (signal.aborted) break
      // The backoff restarts after a connection that worked (it delivered at least one frame).
      attempt = worked ? 0 : attempt + 1
      if (!worked) this.failures++
      this.setStatus(this.failures >= this.cfg.failAfter ? 'failed' : 'reconnecting')
      const delay = this.strategy(attempt, new Error(this.lastError ?? 'closed'))
      if (delay === false) {
        this.setStatus('failed')
        return
      }
      try {
        await sleep(delay, undefined, { signal })
      } catch {
        break
      }
    }
  }

  private noteFailure(err: Error, worked: boolean): void {
    this.failureLog.note(err, worked)
    this.lastError = err.message
  }

  /**
   * One connection, from connect to close. Resolves true if it worked and then closed cleanly,
   * rejects (with `worked` set) when it failed or died.
   */
  private session(): Promise<boolean> {
    const { cfg, ctx } = this
    return new Promise<boolean>((resolve, reject) => {
      let worked = false
      let settled = false
      const decoder = new LqConnectDecoder({ handshake: 'TRY_REQ' })
      const socket = connect({ host: cfg.host, port: cfg.port, noDelay: true })
      this.socket = socket
      const finish = (err: Error | null) => {
        if (settled) return
        settled = true
        clearTimeout(connectTimer)
        clearTimeout(silence)
        socket.destroy()
        this.socket = null
        this.connectedAt = null
        if (err) reject(Object.assign(err, { worked }))
        else resolve(worked)
      }
      const connectTimer = setTimeout(() => finish(new Error(`connect timed out after ${cfg.connectTimeoutSeconds}s`)), cfg.connectTimeoutSeconds * 1000)
      const silence = setTimeout(() => finish(new Error(`no data from the server for ${cfg.expireSeconds}s`)), cfg.expireSeconds * 1000)
      silence.unref()
      connectTimer.unref()

      const onFrameError = (e: FrameError) => {
        ctx.metrics.framesInvalid.inc({ source: this.id, code: e.code }, e.bytes.length)
        ctx.log.debug({ code: e.code, skipped: e.bytes.length, offset: e.offset }, 'skipped bytes that are no LQ frame')
      }

      socket.once('connect', () => {
        clearTimeout(connectTimer)
        silence.refresh()
        this.connectedAt = Date.now()
        if (cfg.registration.framing !== 'none') {
          socket.write(encodeRegistration({ template: cfg.registration.template, framing: cfg.registration.framing, oper: cfg.oper, ch: cfg.ch }))
        }
        if (this.failureLog.failing) {
          ctx.log.info({ failures: this.failures }, 'LQ connection established after failures')
        } else ctx.log.info({ host: cfg.host, port: cfg.port }, 'LQ connection established')
        this.failureLog.recovered()
        this.setStatus('connected', undefined)
      })
      socket.on('data', (chunk) => {
        try {
          silence.refresh()
          this.bytesIn += chunk.length
          decoder.write(
            chunk,
            (f) => {
              this.framesIn++
              if (!worked) {
                worked = true
                this.failures = 0
              }
              if (f.type === 'handshake') socket.write(encodeTryRep())
              else ctx.pops.receive(this.id, f.payload, this.popOpts)
            },
            onFrameError,
          )
        } catch (err) {
          // contain a bug in a handler to this connection: log it, drop the link, reconnect
          ctx.log.error({ err }, 'error while handling LQ data; reconnecting')
          finish(err as Error)
        }
      })
      socket.on('error', (err) => finish(err))
      socket.on('close', () => finish(worked ? new Error('connection closed by the server') : new Error('connection closed before any data')))
    })
  }
}
