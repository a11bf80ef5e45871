import type { Direction, RecordingRecord } from './record.js'

// The filters, result and entry shapes of the recording index (index.ts keeps it in SQLite).

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

/** `x` → 1, `x~2` → 2. */
export function suffix(id: string): number {
  const i = id.lastIndexOf('~')
  return i < 0 ? 1 : Number(id.slice(i + 1))
}

/** A call record stored without audio (`recorded=0`, zero bytes) is no recording to list or play. */
export function hasAudio(r: RecordingRecord): boolean {
  return !(r.recorded === false && r.size === 0)
}
