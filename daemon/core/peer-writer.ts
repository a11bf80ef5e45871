import type { Socket } from 'node:net'
import type { Counter, Metrics } from './metrics.js'

/** Bytes that may wait in telbridge's memory for one TCP peer before it is cut. */
export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024

/** Why a peer was cut: more than the bound queued, or no byte taken for stallSeconds while paused. */
export type CutReason = 'queued-bytes' | 'stalled'

export interface PeerWriterOptions {
  /** who owns the connection, for the log and the `component` label (`lq-socket`, `lq-server`) */
  component: string
  /** the peer as host:port, for the log */
  peer: string
  log: { warn(obj: object, msg: string): void }
  /** the shared counter, from peerCutCounter(metrics) */
  cuts: { inc(labels: { component: string; reason: string }): void }
  /** default DEFAULT_MAX_QUEUED_BYTES */
  maxQueuedBytes?: number
  /** while reading is paused, cut the peer if it takes no byte of ours for this long (absent: never) */
  stallSeconds?: number
  /** reading from the peer was paused because its send buffer is full */
  onPause?(): void
  /** the peer drained what was queued; reading resumed */
  onResume?(): void
  /** the socket was reset and destroyed by the writer (already logged and counted) */
  onCut?(reason: CutReason, queued: number): void
}

const counters = new WeakMap<Metrics, Counter>()

/** The one `telbridge_peer_cut_total` counter of a Metrics registry (every writer shares it). */
export function peerCutCounter(m: Metrics): Counter {
  let c = counters.get(m)
  if (!c)
    counters.set(
      m,
      (c = m.counter('telbridge_peer_cut_total', 'TCP peers disconnected because they did not read what telbridge sent, by component and reason (queued-bytes, stalled)', ['component', 'reason'])),
    )
  return c
}

/**
 * Every write to a TCP peer goes through one of these, so memory per connection is bounded whatever
 * the peer does. When socket.write() says the buffer is full, reading from the peer is paused (it
 * cannot make us answer what we do not read) until 'drain'. A write that would leave more than
 * maxQueuedBytes queued resets the connection instead; so does, with stallSeconds set, a pause during
 * which the peer takes no byte for that long. A cut is logged once (warn) and counted.
 */
export class PeerWriter {
  readonly maxQueuedBytes: number
  private pausedNow = false
  private cutReason: CutReason | null = null
  /** bytes handed to socket.write(); minus socket.writableLength, what the kernel has taken */
  private accepted = 0
  private stallTimer: NodeJS.Timeout | null = null
  private flushedMark = 0

  constructor(
    readonly socket: Socket,
    private readonly opts: PeerWriterOptions,
  ) {
    this.maxQueuedBytes = opts.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES
    socket.once('close', () => this.stopStallTimer())
  }

  /** True while reading from the peer is paused by this writer. */
  get paused(): boolean {
    return this.pausedNow
  }

  /** Why the writer cut the peer, or null. */
  get cut(): CutReason | null {
    return this.cutReason
  }

  /** Bytes waiting in our memory for the peer. */
  get queued(): number {
    return this.socket.writableLength
  }

  /**
   * Send buf. False: the buffer is full (reading is now paused), or the peer was cut or is gone and
   * buf was dropped.
   */
  write(buf: Buffer): boolean {
    const { socket } = this
    if (this.cutReason || socket.destroyed) return false
    if (socket.writableLength + buf.length > this.maxQueuedBytes) {
      this.cutOff('queued-bytes')
      return false
    }
    this.accepted += buf.length
    const ok = socket.write(buf)
    if (!ok) this.pause()
    return ok
  }

  /** Reset the connection, log once and count it (no-op once cut). */
  cutOff(reason: CutReason): void {
    if (this.cutReason) return
    this.cutReason = reason
    const queued = this.socket.writableLength
    this.stopStallTimer()
    // a reset, not a FIN behind megabytes the peer will never read: the kernel frees its buffers now
    // and the peer learns at once
    this.socket.resetAndDestroy()
    const why = reason === 'stalled' ? `took no byte for ${this.opts.stallSeconds}s while reading was paused` : `more than ${this.maxQueuedBytes} bytes would be queued`
    this.opts.log.warn({ peer: this.opts.peer, queued, maxQueuedBytes: this.maxQueuedBytes, reason }, `${this.opts.component} peer does not read: ${why}; disconnecting`)
    this.opts.cuts.inc({ component: this.opts.component, reason })
    this.opts.onCut?.(reason, queued)
  }

  private get flushed(): number {
    return this.accepted - this.socket.writableLength
  }

  private pause(): void {
    if (this.pausedNow) return
    this.pausedNow = true
    this.socket.pause()
    this.socket.once('drain', () => this.resume())
    if (this.opts.stallSeconds !== undefined) {
      this.flushedMark = this.flushed
      this.stallTimer = setInterval(() => this.checkStall(), this.opts.stallSeconds * 1000)
      this.stallTimer.unref()
    }
    this.opts.onPause?.()
  }

  private resume(): void {
    if (!this.pausedNow || this.cutReason || this.socket.destroyed) return
    this.pausedNow = false
    this.stopStallTimer()
    this.socket.resume()
    this.opts.onResume?.()
  }

  /** Paused: the peer must have taken some of our bytes since the last look. */
  private checkStall(): void {
    if (this.socket.destroyed) return this.stopStallTimer()
    const flushed = this.flushed
    if (flushed > this.flushedMark) this.flushedMark = flushed
    else this.cutOff('stalled')
  }

  private stopStallTimer(): void {
    if (this.stallTimer) clearInterval(this.stallTimer)
    this.stallTimer = null
  }
}
