/**
 * The event stream: every event gets an increasing id and is kept in a bounded ring buffer for replay
 * (`Last-Event-ID` / `?since=`). Each event is serialised once, as its SSE wire text, and the same
 * string goes to every subscriber.
 */

export type EventType =
  | 'channel'
  | 'pop'
  | 'pop.invalid'
  | 'source'
  | 'frame.invalid'
  | 'reset'
  | (string & {})

export interface BusEvent {
  id: number
  type: EventType
  time: number
  data: unknown
  /** `id: …\nevent: …\ndata: …\n\n` */
  wire: string
}

export type Subscriber = (e: BusEvent) => void

export interface ReplayResult {
  /** events after the position, oldest first */
  events: BusEvent[]
  /** true when the position is older than the buffer: the client must refetch state */
  gap: boolean
}

export class EventBus {
  private readonly ring: (BusEvent | undefined)[]
  private head = 0 // index of the next write
  private count = 0
  private nextId: number
  private readonly subscribers = new Set<Subscriber>()
  readonly capacity: number
  /** events published since start, by type (for /metrics) */
  readonly published = new Map<string, number>()

  constructor(capacity = 10000, opts: { firstId?: number; now?: () => number } = {}) {
    this.capacity = capacity
    this.ring = new Array(capacity)
    this.nextId = opts.firstId ?? 1
    this.now = opts.now ?? Date.now
  }

  private readonly now: () => number

  /** The id of the newest event (0 before any). */
  get lastId(): number {
    return this.nextId - 1
  }

  /** The id of the oldest event still buffered (lastId + 1 when empty). */
  get oldestId(): number {
    return this.nextId - this.count
  }

  get subscriberCount(): number {
    return this.subscribers.size
  }

  publish(type: EventType, data: unknown): BusEvent {
    const id = this.nextId++
    const time = this.now()
    const wire = `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`
    const e: BusEvent = { id, type, time, data, wire }
    this.ring[this.head] = e
    this.head = (this.head + 1) % this.capacity
    if (this.count < this.capacity) this.count++
    this.published.set(type, (this.published.get(type) ?? 0) + 1)
    for (const fn of this.subscribers) {
      try {
        fn(e)
      } catch {
        // a subscriber's failure is its own (it is removed by its owner); never stop the others
      }
    }
    return e
  }

  subscribe(fn: Subscriber): () => void {
    this.subscribers.add(fn)
    return () => this.subscribers.delete(fn)
  }

  /** Events with id > since. A position older than the buffer (or in the future) is a gap. */
  since(since: number): ReplayResult {
    if (since >= this.lastId) return { events: [], gap: since > this.lastId }
    const gap = since < this.oldestId - 1
    const from = Math.max(since + 1, this.oldestId)
    const events: BusEvent[] = []
    for (let id = from; id <= this.lastId; id++) {
      const idx = (this.head - (this.nextId - id) + this.capacity * 2) % this.capacity
      events.push(this.ring[idx]!)
    }
    return { events, gap }
  }
}
