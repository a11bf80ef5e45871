import { connect, type Socket } from 'node:net'
import { LqConnectDecoder, encodeRegistration, encodeTryRep, type FrameError } from '../../../protocols/lq-connect/index.js'
import { PeerWriter } from '../../core/peer-writer.js'
import type { ReconnectStrategy } from '../../core/reconnect.js'
import { LinkSource } from '../../core/link.js'
import type { SourceContext } from '../../core/source.js'
import type { LqSocketConfig } from './config.js'
import { FrameSkipReporter } from './skips.js'

const ONE_TRY_REP = encodeTryRep()

/** n TRY_REP frames back to back. */
function tryReps(n: number): Buffer {
  if (n === 1) return ONE_TRY_REP
  const out = Buffer.allocUnsafe(n * ONE_TRY_REP.length)
  for (let i = 0; i < n; i++) ONE_TRY_REP.copy(out, i * ONE_TRY_REP.length)
  return out
}

/**
 * 小灵呼 LQ-Connect raw socket client ("模式五"): connect, register, answer TRY_REQ with TRY_REP,
 * feed pop frames to the hub. Silence for expireSeconds means the link is dead; reconnects back off
 * exponentially up to reconnectSeconds. Everything that goes wrong stays inside this source.
 * Writes go through a PeerWriter: a server that does not read our TRY_REPs stops being read, and is
 * cut (then reconnected) past maxQueuedBytes, or when it takes none of them for expireSeconds.
 */
export class LqSocketSource extends LinkSource {
  readonly type = 'lq-socket'
  private socket: Socket | null = null
  private bytesIn = 0
  private framesIn = 0
  /** frame.invalid events and the once-a-minute warning, across reconnects */
  private readonly skips: FrameSkipReporter

  constructor(
    readonly cfg: LqSocketConfig,
    ctx: SourceContext,
    opts: { strategy?: ReconnectStrategy } = {},
  ) {
    super(cfg, ctx, { strategy: opts.strategy, words: { lost: 'LQ link lost', failed: 'LQ connection failed', still: 'LQ server still unreachable' } })
    this.skips = new FrameSkipReporter(cfg.id, ctx.bus, ctx.log)
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
    this.runLoop()
  }

  async stop(): Promise<void> {
    this.abort.abort()
    this.socket?.destroy()
    await this.loop
    this.setStatus('stopped')
  }

  /**
   * One connection, from connect to close. Resolves true if it worked and then closed cleanly,
   * rejects (with `worked` set) when it failed or died.
   */
  protected session(): Promise<boolean> {
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
      // While the writer holds reading paused, silence is ours, not the server's: the writer then
      // measures whether the server takes our bytes (stallSeconds) and the silence timer waits.
      const silence = setTimeout(() => {
        if (writer.paused) silence.refresh()
        else finish(new Error(`no data from the server for ${cfg.expireSeconds}s`))
      }, cfg.expireSeconds * 1000)
      silence.unref()
      connectTimer.unref()
      const writer = new PeerWriter(socket, {
        component: 'lq-socket',
        peer: `${cfg.host}:${cfg.port}`,
        log: ctx.log,
        cuts: ctx.metrics.peerCuts,
        maxQueuedBytes: cfg.maxQueuedBytes,
        stallSeconds: cfg.expireSeconds,
        onResume: () => silence.refresh(),
        onCut: (reason, queued) =>
          finish(
            new Error(
              reason === 'stalled' ? `the server read none of our ${queued} queued bytes for ${cfg.expireSeconds}s` : `the server does not read: more than ${cfg.maxQueuedBytes} bytes queued for it`,
            ),
          ),
      })

      const onFrameError = (e: FrameError) => {
        ctx.metrics.framesInvalid.inc({ source: this.id, code: e.code }, e.bytes.length)
        ctx.log.debug({ code: e.code, skipped: e.bytes.length, offset: e.offset }, 'skipped bytes that are no LQ frame')
        this.skips.add(e)
      }

      socket.once('connect', () => {
        clearTimeout(connectTimer)
        silence.refresh()
        if (cfg.registration.framing !== 'none') {
          writer.write(encodeRegistration({ template: cfg.registration.template, framing: cfg.registration.framing, oper: cfg.oper, ch: cfg.ch }))
        }
        if (this.failing) {
          ctx.log.info({ failures: this.failures }, 'LQ connection established after failures')
        } else ctx.log.info({ host: cfg.host, port: cfg.port }, 'LQ connection established')
        this.linkUp()
      })
      socket.on('data', (chunk) => {
        try {
          silence.refresh()
          this.bytesIn += chunk.length
          let tryReqs = 0
          try {
            decoder.write(
              chunk,
              (f) => {
                this.framesIn++
                if (!worked) {
                  worked = true
                  this.failures = 0
                }
                if (f.type === 'handshake') tryReqs++
                else ctx.pops.receive(this.id, f.payload, this.popOpts)
              },
              onFrameError,
            )
          } finally {
            // one frame.invalid event per chunk, however many runs the decoder reported
            this.skips.flush()
          }
          // the answers to one chunk's TRY_REQs go out as one write: the same bytes, one syscall
          // and one buffer instead of one per 7-byte frame (a flood brings ~9,000 per chunk)
          if (tryReqs > 0) writer.write(tryReps(tryReqs))
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
