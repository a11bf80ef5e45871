/**
 * The event stream: every event gets an increasing id and is kept, as its SSE wire text, in a
 * bounded ring buffer for replay (`Last-Event-ID` / `?since=`). Events published in one tick are
 * also joined and UTF-8-encoded once into a batch that every stream client writes as it is, so
 * fan-out costs one write per client per tick, not one encode and write per client per event.
 */

export type EventType = 'channel' | 'pop' | 'pop.invalid' | 'frame.invalid' | 'source' | 'reset' | 'lqclient' | (string & {})

/** What the ring keeps: enough to replay. */
export interface StoredEvent {
  id: number
  type: EventType
  /** `id: …\nevent: …\ndata: …\n\n` */
  wire: string
}

/** What in-process subscribers get. */
export interface BusEvent extends StoredEvent {
  time: number
  data: unknown
}

export interface Batch {
  firstId: number
  lastId: number
  bytes: Buffer
}

export type Subscriber = (e: BusEvent) => void
export type BatchSubscriber = (b: Batch) => void

export interface ReplayResult {
  /** events after the position, oldest first */
  events: StoredEvent[]
  /** true when the position is older than the buffer (or unknown): the client must refetch state */
  gap: boolean
}

export class EventBus {
  private readonly ring: (StoredEvent | undefined)[]
  private head = 0 // index of the next write
  private count = 0
  private nextId: number
  private readonly subscribers = new Set<Subscriber>()
  private readonly batchSubscribers = new Set<BatchSubscriber>()
  private pending: string[] = []
  private pendingFirstId = 0
  private flushScheduled = false
  private readonly now: () => number
  readonly capacity: number
  /** events published since start, by type (for /metrics) */
  readonly published = new Map<string, number>()
  /** bytes of wire text handed to stream clients since start (grows at each batch) */
  bytesPublished = 0

  constructor(capacity = 10000, opts: { firstId?: number; now?: () => number } = {}) {
    this.capacity = capacity
    this.ring = new Array<StoredEvent | undefined>(capacity)
    this.nextId = opts.firstId ?? 1
    this.now = opts.now ?? Date.now
  }

  /** The id of the newest event (firstId - 1 before any). */
  get lastId(): number {
    return this.nextId - 1
  }

  /** The id of the oldest event still buffered (lastId + 1 when empty). */
  get oldestId(): number {
    return this.nextId - this.count
  }

  /** The id the next published event will get. */
  get nextEventId(): number {
    return this.nextId
  }

  get subscriberCount(): number {
    return this.subscribers.size + this.batchSubscribers.size
  }

  publish(type: EventType, data: unknown): BusEvent {
    const id = this.nextId++
    const wire = `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`
    const e: BusEvent = { id, type, time: this.now(), data, wire }
    this.ring[this.head] = { id, type, wire }
    this.head = (this.head + 1) % this.capacity
    if (this.count < this.capacity) this.count++
    this.published.set(type, (this.published.get(type) ?? 0) + 1)
    if (this.batchSubscribers.size) {
      if (this.pending.length === 0) this.pendingFirstId = id
      this.pending.push(wire)
      if (!this.flushScheduled) {
        this.flushScheduled = true
        setImmediate(() => this.flush())
      }
    }
    for (const fn of this.subscribers) {
      try {
        fn(e)
      } catch {
        // a subscriber's failure is its own; never stop the others
      }
    }
    return e
  }

  /** Hand this tick's events to the stream clients as one encoded batch. */
  flush(): void {
    this.flushScheduled = false
    if (this.pending.length === 0) return
    const bytes = Buffer.from(this.pending.join(''), 'utf8')
    const batch: Batch = { firstId: this.pendingFirstId, lastId: this.pendingFirstId + this.pending.length - 1, bytes }
    this.pending = []
    this.bytesPublished += bytes.length
    for (const fn of this.batchSubscribers) {
      try {
        fn(batch)
      } catch {
        // as above
      }
    }
  }

  subscribe(fn: Subscriber): () => void {
    this.subscribers.add(fn)
    return () => this.subscribers.delete(fn)
  }

  subscribeBatches(fn: BatchSubscriber): () => void {
    this.batchSubscribers.add(fn)
    return () => this.batchSubscribers.delete(fn)
  }

  /** Events with id > since. A position older than the buffer, or in the future, is a gap. */
  since(since: number): ReplayResult {
    if (since >= this.lastId) return { events: [], gap: since > this.lastId }
    const gap = since < this.oldestId - 1
    const from = Math.max(since + 1, this.oldestId)
    const events: StoredEvent[] = []
    for (let id = from; id <= this.lastId; id++) {
      const idx = (this.head - (this.nextId - id) + this.capacity * 2) % this.capacity
      events.push(this.ring[idx]!)
    }
    return { events, gap }
  }
}
