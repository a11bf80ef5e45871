import type { ServerResponse } from 'node:http'
import type { Batch, EventBus } from './core/events.js'

export interface SseOptions {
  /** a paused client that falls this many bytes of events behind is cut off */
  maxBacklogBytes: number
  heartbeatMs: number
  onDrop?: (reason: string) => void
}

/**
 * One Server-Sent Events client. Writes never wait and never pile up: when the socket reports
 * backpressure the client stops receiving and only remembers the last id it was sent; on 'drain'
 * it catches up from the replay ring in one write. A client that falls more than maxBacklogBytes
 * behind, or out of the ring, is cut off and resumes with Last-Event-ID. So a slow reader never
 * slows the daemon or other readers, and costs at most one batch of memory.
 */
export class SseClient {
  private closed = false
  private paused = false
  private pausedAtBytes = 0
  private lastSentId: number
  private readonly unsubscribe: () => void
  private readonly heartbeat: NodeJS.Timeout

  constructor(
    private readonly res: ServerResponse,
    private readonly bus: EventBus,
    since: number | null,
    private readonly opts: SseOptions,
  ) {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    res.socket?.setNoDelay(true)
    let head = `retry: 1000\n: telbridge event stream, last id ${bus.lastId}\n\n`
    this.lastSentId = bus.lastId
    if (since !== null) {
      const { events, gap } = bus.since(since)
      if (gap) {
        const reset = {
          reason: since > bus.lastId ? 'unknown position (the daemon restarted?)' : 'position fell out of the replay buffer',
          requested: since,
          oldest: bus.oldestId,
          latest: bus.lastId,
        }
        // the reset carries the newest id, so a reconnect after it resumes from here
        head += `id: ${bus.lastId}\nevent: reset\ndata: ${JSON.stringify(reset)}\n\n`
      } else {
        head += events.map((e) => e.wire).join('')
      }
    }
    this.write(head)
    this.unsubscribe = bus.subscribeBatches((b) => this.onBatch(b))
    this.heartbeat = setInterval(() => !this.paused && this.write(': keep-alive\n\n'), opts.heartbeatMs)
    this.heartbeat.unref()
    res.on('drain', () => this.onDrain())
    res.on('close', () => this.close())
    res.on('error', () => this.close())
  }

  private onBatch(b: Batch): void {
    if (this.closed || b.lastId <= this.lastSentId) return // already sent with the replay
    if (this.paused) {
      if (this.bus.bytesPublished - this.pausedAtBytes > this.opts.maxBacklogBytes) this.drop('backlog')
      return
    }
    if (b.firstId === this.lastSentId + 1) {
      this.lastSentId = b.lastId
      this.write(b.bytes)
    } else this.catchUp() // straddles the replay: take the rest from the ring
  }

  private onDrain(): void {
    if (this.closed || !this.paused) return
    this.paused = false
    this.catchUp()
  }

  /** Send everything after lastSentId from the ring in one write. */
  private catchUp(): void {
    const { events, gap } = this.bus.since(this.lastSentId)
    if (gap) return this.drop('fell out of the replay buffer')
    if (!events.length) return
    this.lastSentId = events[events.length - 1]!.id
    this.write(events.map((e) => e.wire).join(''))
  }

  private write(chunk: string | Buffer): void {
    if (this.closed) return
    if (!this.res.write(chunk) && !this.paused) {
      this.paused = true
      this.pausedAtBytes = this.bus.bytesPublished
    }
  }

  private drop(reason: string): void {
    this.opts.onDrop?.(reason)
    this.res.destroy()
    this.close()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.heartbeat)
    this.unsubscribe()
    if (!this.res.writableEnded && !this.res.destroyed) this.res.end()
  }
}
