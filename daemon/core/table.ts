/**
 * The channel state table: every line and extension telbridge knows of, keyed by source + channel.
 * Updates and lookups are O(1) (a two-level source → channel Map, an id Map, per-state arrays with
 * swap-remove); a change event is emitted only when a field really changed. Times are kept as epoch ms and rendered at the edges.
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
  /** epoch ms of the last change that was published (a change of a quiet vendor key alone does not move it) */
  updatedAt: number
  /** vendor-specific detail (kept as sent, shallow-compared) */
  vendor: Record<string, unknown> | null
}

/**
 * Vendor keys whose change alone is not a change (update's `quiet`): the entry takes the new
 * vendor object, so lookups and GET /v1/channels see the fresh value, but no change is emitted and
 * `updatedAt` stays. A counter a device repeats on every heartbeat (800hu `timelen`) would
 * otherwise make every heartbeat an event.
 */
export type QuietKeys = readonly string[]

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

/**
 * Where an entry sits in its state's array (for O(1) swap-remove). Kept on the entry under a
 * module-private symbol, non-enumerable: not in `Object.keys`, spreads, `JSON.stringify` or `entryJson`.
 */
const STATE_SLOT: unique symbol = Symbol('telbridge.table.stateSlot')
interface Slotted extends ChannelEntry {
  [STATE_SLOT]: number
}

/**
 * The channel id. Source ids match ID_PATTERN (no ':'), so the id is unambiguous and the table may
 * index by (source, channel) without building it; it is built once, when an entry is created.
 */
export function channelId(source: string, channel: string): string {
  return `${source}:${channel}`
}

export class ChannelTable {
  /** id → entry, for get(id); written only on create and remove */
  private readonly byId = new Map<string, Slotted>()
  /** source → channel → entry: update/lookup without a string concat; also the per-source index */
  private readonly bySource = new Map<string, Map<string, Slotted>>()
  /**
   * state → its entries, unordered; an entry's position is its STATE_SLOT. A plain object with one
   * own property per state (measured ~10% faster on update than a Map keyed by state).
   */
  private readonly byState = Object.fromEntries(CHANNEL_STATES.map((s) => [s, [] as Slotted[]])) as Record<ChannelState, Slotted[]>
  private readonly listeners: ChangeListener[] = []
  private readonly now: () => number

  constructor(opts: { now?: () => number } = {}) {
    this.now = opts.now ?? Date.now
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
    return this.bySource.get(source)?.get(channel)
  }

  /**
   * Create or update one channel. Returns the change, or null when nothing changed (then no event).
   * A new entry without a state starts as `unknown`. `quiet`: vendor keys whose change alone is
   * applied without an event (QuietKeys); with any other change the event carries them and lists `vendor`.
   */
  update(source: string, channel: string, patch: ChannelPatch, quiet?: QuietKeys): ChannelChange | null {
    let chans = this.bySource.get(source)
    const entry = chans?.get(channel)
    if (entry) return this.apply(entry, patch, quiet)
    const id = channelId(source, channel)
    // only if a source id held ':' (config forbids it): ('a:b', 'c') and ('a', 'b:c') share an id,
    // and, as when the table was keyed by id alone, they are one entry
    const sameId = this.byId.get(id)
    if (sameId) return this.apply(sameId, patch, quiet)
    if (!chans) this.bySource.set(source, (chans = new Map<string, Slotted>()))
    const t = this.now()
    const created = {
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
    } as Slotted
    Object.defineProperty(created, STATE_SLOT, { value: -1, writable: true, enumerable: false, configurable: false })
    this.byId.set(id, created)
    chans.set(channel, created)
    this.addToState(created)
    return this.emit({ entry: created, changed: ['created'], previousState: null })
  }

  /** Set every channel of a source (e.g. when the source goes down: `unknown`). */
  updateSource(source: string, patch: ChannelPatch): number {
    const chans = this.bySource.get(source)
    if (!chans) return 0
    let n = 0
    // a snapshot, as a listener may add or remove channels meanwhile
    for (const e of [...chans.values()]) if (this.update(source, e.channel, patch)) n++
    return n
  }

  remove(id: string): boolean {
    const entry = this.byId.get(id)
    if (!entry) return false
    this.byId.delete(id)
    const chans = this.bySource.get(entry.source)
    if (chans) {
      chans.delete(entry.channel)
      if (chans.size === 0) this.bySource.delete(entry.source)
    }
    this.removeFromState(entry)
    this.emit({ entry, changed: ['removed'], previousState: entry.state })
    return true
  }

  /** Entries, optionally filtered; uses the smaller index when both filters are given. No order is promised. */
  list(filter: { source?: string; state?: ChannelState } = {}): ChannelEntry[] {
    const { source, state } = filter
    const bySrc = source !== undefined ? this.bySource.get(source) : undefined
    if (source !== undefined && !bySrc) return []
    if (state !== undefined && !Object.hasOwn(this.byState, state)) return []
    const bySt = state !== undefined ? this.byState[state] : undefined
    if (bySrc && bySt) {
      const out: ChannelEntry[] = []
      if (bySrc.size <= bySt.length) {
        for (const e of bySrc.values()) if (e.state === state) out.push(e)
      } else {
        for (const e of bySt) if (e.source === source) out.push(e)
      }
      return out
    }
    if (bySrc) return [...bySrc.values()]
    if (bySt) return bySt.slice()
    return [...this.byId.values()]
  }

  countByState(): Record<ChannelState, number> {
    const out = {} as Record<ChannelState, number>
    for (const s of CHANNEL_STATES) out[s] = this.byState[s].length
    return out
  }

  countBySource(source: string): number {
    return this.bySource.get(source)?.size ?? 0
  }

  /** Apply a patch to an existing entry (fields compared one by one; vendor shallowly). */
  private apply(entry: Slotted, patch: ChannelPatch, quiet: QuietKeys | undefined): ChannelChange | null {
    let changed: string[] | null = null
    const previousState = entry.state
    const { state, phone, direction, agent, callId, vendor } = patch
    if (state !== undefined && state !== previousState) {
      changed = ['state']
      this.removeFromState(entry)
      entry.state = state
      this.addToState(entry)
    }
    if (phone !== undefined && phone !== entry.phone) {
      ;(changed ??= []).push('phone')
      entry.phone = phone
    }
    if (direction !== undefined && direction !== entry.direction) {
      ;(changed ??= []).push('direction')
      entry.direction = direction
    }
    if (agent !== undefined && agent !== entry.agent) {
      ;(changed ??= []).push('agent')
      entry.agent = agent
    }
    if (callId !== undefined && callId !== entry.callId) {
      ;(changed ??= []).push('callId')
      entry.callId = callId
    }
    if (vendor !== undefined) {
      const d = vendorDiff(entry.vendor, vendor, quiet)
      // a quiet difference is taken too (a fresh object: earlier events keep theirs), but is a change only beside another
      if (d === DIFF || (d === QUIET && changed)) (changed ??= []).push('vendor')
      if (d !== SAME) entry.vendor = vendor
    }
    if (!changed) return null
    const t = this.now()
    if (entry.state !== previousState) entry.since = t
    entry.updatedAt = t
    return this.emit({ entry, changed, previousState })
  }

  private addToState(entry: Slotted): void {
    const arr = this.byState[entry.state]
    entry[STATE_SLOT] = arr.length
    arr.push(entry)
  }

  /** swap-remove: the last entry takes this one's place */
  private removeFromState(entry: Slotted): void {
    const arr = this.byState[entry.state]
    const i = entry[STATE_SLOT]
    const last = arr.pop()!
    if (last !== entry) {
      arr[i] = last
      last[STATE_SLOT] = i
    }
    entry[STATE_SLOT] = -1
  }

  private emit(change: ChannelChange): ChannelChange {
    for (const fn of this.listeners) fn(change)
    return change
  }
}

const SAME = 0
const QUIET = 1
const DIFF = 2

/** Shallow comparison of two vendor objects (same keys, values ===): SAME, QUIET (only quiet keys differ) or DIFF. No allocation. */
function vendorDiff(a: Record<string, unknown> | null, b: Record<string, unknown> | null, quiet: QuietKeys | undefined): number {
  if (a === b) return SAME
  if (!a || !b) return DIFF
  let nb = 0
  let out = SAME
  for (const k in b) {
    nb++
    if (a[k] !== b[k]) {
      if (quiet === undefined || !quiet.includes(k)) return DIFF
      out = QUIET
    }
  }
  let na = 0
  for (const _ in a) na++
  return na === nb ? out : DIFF
}

/**
 * ms → ISO text, remembering the last two: a burst of updates (one status post, one poll) stamps
 * every entry with the same ms, and `since` is often `updatedAt`. toISOString was ~40 % of entryJson.
 */
let isoMsA = NaN
let isoA = ''
let isoMsB = NaN
let isoB = ''
function iso(ms: number): string {
  if (ms === isoMsA) return isoA
  if (ms === isoMsB) return isoB
  isoMsB = isoMsA
  isoB = isoA
  isoMsA = ms
  return (isoA = new Date(ms).toISOString())
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
    since: iso(e.since),
    updatedAt: iso(e.updatedAt),
    vendor: e.vendor,
  }
}
