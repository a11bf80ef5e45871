import type { ServerResponse } from 'node:http'
import type { BusEvent, EventBus } from './events.js'

export interface SseOptions {
  maxBacklogBytes: number
  heartbeatMs: number
  onDrop?: (reason: string) => void
}

/**
 * One Server-Sent Events client. Writes never wait. A client more than `maxBacklogBytes` behind for
 * over STALL_MS (or over HARD_FACTOR times that at any moment) is cut off and resumes with
 * Last-Event-ID, so a slow reader never slows the daemon or the other readers, and its memory is
 * bounded. The grace period lets a reader that keeps up absorb a burst the kernel buffers can't.
 */
const STALL_MS = 1000
const HARD_FACTOR = 8

export class SseClient {
  private closed = false
  private readonly unsubscribe: () => void
  private readonly heartbeat: NodeJS.Timeout

  constructor(
    private readonly res: ServerResponse,
    bus: EventBus,
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
    // Subscribe before replaying so nothing published in between is missed; events arrive in id order.
    const pending: BusEvent[] = []
    let replaying = true
    this.unsubscribe = bus.subscribe((e) => (replaying ? pending.push(e) : this.send(e.wire)))
    this.write(`retry: 1000\n: telbridge event stream, last id ${bus.lastId}\n\n`)
    let lastSent = since ?? bus.lastId
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
        this.write(`id: ${bus.lastId}\nevent: reset\ndata: ${JSON.stringify(reset)}\n\n`)
        lastSent = bus.lastId
      } else {
        for (const e of events) this.write(e.wire)
        if (events.length) lastSent = events[events.length - 1]!.id
      }
    }
    for (const e of pending) if (e.id > lastSent) this.send(e.wire)
    replaying = false
    this.heartbeat = setInterval(() => this.send(': keep-alive\n\n'), opts.heartbeatMs)
    this.heartbeat.unref()
    res.on('close', () => this.close())
    res.on('error', () => this.close())
  }

  private behindSince: number | null = null

  private send(text: string): void {
    if (this.closed) return
    const backlog = this.res.writableLength
    if (backlog > this.opts.maxBacklogBytes) {
      const now = Date.now()
      this.behindSince ??= now
      if (now - this.behindSince > STALL_MS || backlog > this.opts.maxBacklogBytes * HARD_FACTOR) {
        this.opts.onDrop?.('backlog')
        this.res.destroy()
        this.close()
        return
      }
    } else this.behindSince = null
    this.write(text)
  }

  private write(text: string): void {
    if (!this.closed) this.res.write(text)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.heartbeat)
    this.unsubscribe()
    if (!this.res.writableEnded) this.res.end()
  }
}
