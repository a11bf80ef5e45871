/**
 * The channel state table: every line and extension telbridge knows of, keyed by source + channel.
 * Updates and lookups are O(1) (a Map plus per-source and per-state Sets); a change event is emitted
 * only when a field really changed. Times are kept as epoch ms and rendered at the edges.
 */

export const CHANNEL_STATES = ['offline', 'idle', 'ringing', 'dialing', 'talking', 'held', 'unknown'] as const
export type ChannelState = (typeof CHANNEL_STATES)[number]
export type Direction = 'inbound' | 'outbound'

export interface ChannelEntry {
  /** `${source}:${channel}` */
  readonly id: string
  readonly source: string
  readonly channel: string
  state: ChannelState
  phone: string | null
  direction: Direction | null
  agent: string | null
  callId: string | null
  /** epoch ms when `state` took its current value */
  since: number
  /** epoch ms of the last change of any field */
  updatedAt: number
  /** vendor-specific detail (kept as sent, shallow-compared) */
  vendor: Record<string, unknown> | null
}

/** What an update may set. Omitted fields keep their value. */
export interface ChannelPatch {
  state?: ChannelState
  phone?: string | null
  direction?: Direction | null
  agent?: string | null
  callId?: string | null
  vendor?: Record<string, unknown> | null
}

export interface ChannelChange {
  entry: ChannelEntry
  /** names of the fields that changed; ['created'] for a new entry; ['removed'] when deleted */
  changed: string[]
  previousState: ChannelState | null
}

export type ChangeListener = (change: ChannelChange) => void

const PATCH_FIELDS = ['state', 'phone', 'direction', 'agent', 'callId', 'vendor'] as const

export function channelId(source: string, channel: string): string {
  return `${source}:${channel}`
}

export class ChannelTable {
  private readonly byId = new Map<string, ChannelEntry>()
  private readonly bySource = new Map<string, Set<ChannelEntry>>()
  private readonly byState = new Map<ChannelState, Set<ChannelEntry>>()
  private readonly listeners: ChangeListener[] = []
  private readonly now: () => number

  constructor(opts: { now?: () => number } = {}) {
    this.now = opts.now ?? Date.now
    for (const s of CHANNEL_STATES) this.byState.set(s, new Set())
  }

  onChange(fn: ChangeListener): () => void {
    this.listeners.push(fn)
    return () => {
      const i = this.listeners.indexOf(fn)
      if (i >= 0) this.listeners.splice(i, 1)
    }
  }

  get size(): number {
    return this.byId.size
  }

  get(id: string): ChannelEntry | undefined {
    return this.byId.get(id)
  }

  lookup(source: string, channel: string): ChannelEntry | undefined {
    return this.byId.get(channelId(source, channel))
  }

  /**
   * Create or update one channel. Returns the change, or null when nothing changed (then no event).
   * A new entry without a state starts as `unknown`.
   */
  update(source: string, channel: string, patch: ChannelPatch): ChannelChange | null {
    const id = channelId(source, channel)
    let entry = this.byId.get(id)
    const t = this.now()
    if (!entry) {
      entry = {
        id,
        source,
        channel,
        state: patch.state ?? 'unknown',
        phone: patch.phone ?? null,
        direction: patch.direction ?? null,
        agent: patch.agent ?? null,
        callId: patch.callId ?? null,
        since: t,
        updatedAt: t,
        vendor: patch.vendor ?? null,
      }
      this.byId.set(id, entry)
      let set = this.bySource.get(source)
      if (!set) this.bySource.set(source, (set = new Set()))
      set.add(entry)
      this.byState.get(entry.state)!.add(entry)
      return this.emit({ entry, changed: ['created'], previousState: null })
    }
    let changed: string[] | null = null
    const previousState = entry.state
    for (const f of PATCH_FIELDS) {
      const v = patch[f]
      if (v === undefined) continue
      const same = f === 'vendor' ? shallowEqual(entry.vendor, v as ChannelEntry['vendor']) : entry[f] === v
      if (same) continue
      ;(changed ??= []).push(f)
      ;(entry as unknown as Record<string, unknown>)[f] = v
    }
    if (!changed) return null
    if (entry.state !== previousState) {
      this.byState.get(previousState)!.delete(entry)
      this.byState.get(entry.state)!.add(entry)
      entry.since = t
    }
    entry.updatedAt = t
    return this.emit({ entry, changed, previousState })
  }

  /** Set every channel of a source (e.g. when the source goes down: `unknown`). */
  updateSource(source: string, patch: ChannelPatch): number {
    const set = this.bySource.get(source)
    if (!set) return 0
    let n = 0
    for (const e of [...set]) if (this.update(source, e.channel, patch)) n++
    return n
  }

  remove(id: string): boolean {
    const entry = this.byId.get(id)
    if (!entry) return false
    this.byId.delete(id)
    this.bySource.get(entry.source)?.delete(entry)
    this.byState.get(entry.state)!.delete(entry)
    this.emit({ entry, changed: ['removed'], previousState: entry.state })
    return true
  }

  /** Entries, optionally filtered; uses the smaller index when both filters are given. */
  list(filter: { source?: string; state?: ChannelState } = {}): ChannelEntry[] {
    const bySrc = filter.source !== undefined ? this.bySource.get(filter.source) ?? new Set<ChannelEntry>() : undefined
    const bySt = filter.state !== undefined ? this.byState.get(filter.state)! : undefined
    let base: Iterable<ChannelEntry>
    let other: ((e: ChannelEntry) => boolean) | null = null
    if (bySrc && bySt) {
      base = bySrc.size <= bySt.size ? bySrc : bySt
      other = bySrc.size <= bySt.size ? (e) => e.state === filter.state : (e) => e.source === filter.source
    } else base = bySrc ?? bySt ?? this.byId.values()
    const out: ChannelEntry[] = []
    for (const e of base) if (!other || other(e)) out.push(e)
    return out
  }

  countByState(): Record<ChannelState, number> {
    const out = {} as Record<ChannelState, number>
    for (const [s, set] of this.byState) out[s] = set.size
    return out
  }

  countBySource(source: string): number {
    return this.bySource.get(source)?.size ?? 0
  }

  private emit(change: ChannelChange): ChannelChange {
    for (const fn of this.listeners) fn(change)
    return change
  }
}

function shallowEqual(a: Record<string, unknown> | null, b: Record<string, unknown> | null): boolean {
  if (a === b) return true
  if (!a || !b) return false
  const ka = Object.keys(a)
  if (ka.length !== Object.keys(b).length) return false
  for (const k of ka) if (a[k] !== b[k]) return false
  return true
}

/** The JSON form of an entry, as the API and events show it. */
export function entryJson(e: ChannelEntry): Record<string, unknown> {
  return {
    id: e.id,
    source: e.source,
    channel: e.channel,
    state: e.state,
    phone: e.phone,
    direction: e.direction,
    agent: e.agent,
    callId: e.callId,
    since: new Date(e.since).toISOString(),
    updatedAt: new Date(e.updatedAt).toISOString(),
    vendor: e.vendor,
  }
}
