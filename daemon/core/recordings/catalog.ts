import type { Direction, RecordingRecord } from './record.js'

export interface RecordingFilters {
  /** box MAC, 12 lowercase hex digits */
  box?: string
  channel?: number
  /** substring of the other party's number */
  phone?: string
  direction?: Direction
  /** exact callid: every recording stored under it (`callid`, `callid~2`…) */
  callid?: string
  /** true: only entries with audio; false: only call records without (a box's `recorded=0` upload); absent: both */
  audio?: boolean
  /** epoch ms, inclusive, on `time` (call start, else received) */
  from?: number
  /** epoch ms, exclusive */
  to?: number
  /** `desc` (newest first, the default) or `asc` */
  order?: 'asc' | 'desc'
  offset?: number
  limit?: number
}

export interface FindResult {
  /** matches before paging */
  total: number
  offset: number
  limit: number
  recordings: RecordingRecord[]
}

export interface Entry {
  record: RecordingRecord
  /** `record.time` as epoch ms */
  timeMs: number
  receivedMs: number
  /** absolute path of the audio file */
  audioPath: string
  sidecarPath: string
}

export const DEFAULT_LIMIT = 50
export const MAX_LIMIT = 1000

function before(a: Entry, b: Entry): boolean {
  return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.record.id < b.record.id)
}

/** The in-memory index: by id, by callid, and one array sorted by (time, id) for listing. */
export class Catalog {
  private readonly byId = new Map<string, Entry>()
  private readonly byCallid = new Map<string, Entry[]>()
  private readonly sorted: Entry[] = []
  /** entries removed from the maps but still in `sorted` */
  private stale = 0
  bytes = 0

  get size(): number {
    return this.byId.size
  }

  has(id: string): boolean {
    return this.byId.has(id)
  }

  entry(id: string): Entry | undefined {
    return this.byId.get(id)
  }

  /** Every recording stored under a callid, first stored first. */
  versions(callid: string): readonly Entry[] {
    return this.byCallid.get(callid) ?? []
  }

  add(e: Entry): void {
    if (this.byId.has(e.record.id)) throw new Error(`recording ${e.record.id} is already indexed`)
    this.byId.set(e.record.id, e)
    const v = this.byCallid.get(e.record.callid)
    if (v) {
      v.push(e)
      v.sort((a, b) => suffix(a.record.id) - suffix(b.record.id))
    } else this.byCallid.set(e.record.callid, [e])
    this.compact()
    let lo = 0
    let hi = this.sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (before(this.sorted[mid]!, e)) lo = mid + 1
      else hi = mid
    }
    this.sorted.splice(lo, 0, e)
    this.bytes += e.record.size
  }

  /** O(1): the sorted array drops removed entries at its next use, in one pass (retention removes many). */
  remove(id: string): Entry | undefined {
    const e = this.byId.get(id)
    if (!e) return undefined
    this.byId.delete(id)
    const v = this.byCallid.get(e.record.callid)
    const rest = v?.filter((x) => x !== e) ?? []
    if (rest.length) this.byCallid.set(e.record.callid, rest)
    else this.byCallid.delete(e.record.callid)
    this.bytes -= e.record.size
    this.stale++
    return e
  }

  private compact(): void {
    if (this.stale === 0) return
    let w = 0
    for (const e of this.sorted) if (this.byId.get(e.record.id) === e) this.sorted[w++] = e
    this.sorted.length = w
    this.stale = 0
  }

  /** Oldest first. */
  all(): readonly Entry[] {
    this.compact()
    return this.sorted
  }

  find(f: RecordingFilters = {}): FindResult {
    this.compact()
    const offset = Math.max(0, Math.floor(f.offset ?? 0))
    const limit = Math.min(MAX_LIMIT, Math.max(1, Math.floor(f.limit ?? DEFAULT_LIMIT)))
    const phone = f.phone?.trim()
    const match = (e: Entry): boolean => {
      const r = e.record
      return (
        (f.box === undefined || r.box === f.box) &&
        (f.channel === undefined || r.channel === f.channel) &&
        (f.direction === undefined || r.direction === f.direction) &&
        (f.callid === undefined || r.callid === f.callid) &&
        (f.audio === undefined || hasAudio(r) === f.audio) &&
        (f.from === undefined || e.timeMs >= f.from) &&
        (f.to === undefined || e.timeMs < f.to) &&
        (!phone || r.phone.includes(phone))
      )
    }
    // narrow by callid or time first: both are cheap, and the rest is a scan of what is left
    let pool: readonly Entry[] =
      f.callid !== undefined
        ? this.versions(f.callid)
            .slice()
            .sort((a, b) => (before(a, b) ? -1 : 1))
        : this.sorted
    if (f.callid === undefined && (f.from !== undefined || f.to !== undefined)) {
      const lo = f.from === undefined ? 0 : this.lowerBound(f.from)
      const hi = f.to === undefined ? this.sorted.length : this.lowerBound(f.to)
      pool = this.sorted.slice(lo, Math.max(lo, hi))
    }
    const out: RecordingRecord[] = []
    let total = 0
    const desc = f.order !== 'asc'
    for (let k = 0; k < pool.length; k++) {
      const e = pool[desc ? pool.length - 1 - k : k]!
      if (!match(e)) continue
      if (total >= offset && out.length < limit) out.push(e.record)
      total++
    }
    return { total, offset, limit, recordings: out }
  }

  private lowerBound(ms: number): number {
    let lo = 0
    let hi = this.sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.sorted[mid]!.timeMs < ms) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

/** `x` → 1, `x~2` → 2. */
export function suffix(id: string): number {
  const i = id.lastIndexOf('~')
  return i < 0 ? 1 : Number(id.slice(i + 1))
}

/** A call record stored without audio (`recorded=0`, zero bytes) is no recording to list or play. */
export function hasAudio(r: RecordingRecord): boolean {
  return !(r.recorded === false && r.size === 0)
}
