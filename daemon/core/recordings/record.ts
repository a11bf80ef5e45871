import { InvalidRecording } from './errors.js'

/** A stored recording as the API, the event stream and the sidecar show it. */
export type RecordingRecord = {
  /** `callid`, or `callid~2`… for a second recording with the same callid and other content */
  id: string
  callid: string
  /** the box's id as its device module normalises it (800hu: the MAC's 12 lowercase hex digits) */
  box: string
  /** the box's source id in the channel table (800hu: `800hu-<box>`) */
  source: string
  /** RJ11 port (`channel`), null when the box sent none or garbage */
  channel: number | null
  /** the other party's number (`callid_dialed`) */
  phone: string
  direction: Direction | null
  /** call start (`start_time_secs`), ISO 8601 UTC; null when missing or implausible */
  startTime: string | null
  /** hang-up (`start_time_hangup`) */
  endTime: string | null
  /** answered seconds (`duration_secs`) */
  durationSeconds: number | null
  /** `recorded` 1/0 */
  recorded: boolean | null
  /** the box's own record number (`id`) */
  boxRecordId: string | null
  /** the time filters and order use: startTime when valid, else receivedAt */
  time: string
  receivedAt: string
  /** audio file, relative to `<dataDir>/recordings`, with `/` */
  file: string
  ext: string
  contentType: string
  size: number
  md5: string
  sha256: string
  /** every upload field exactly as the box sent it */
  fields: Record<string, string>
}

export type Direction = 'inbound' | 'outbound' | 'missed'
export const DIRECTIONS: readonly Direction[] = ['inbound', 'outbound', 'missed']

export const SIDECAR_FORMAT = 'telbridge.recording/1'

/**
 * Audio types a box may send, by the extension we store under. Anything else is kept as `.bin`
 * (application/octet-stream): an odd file name must never cost the business a recording.
 */
export const AUDIO_TYPES: Readonly<Record<string, string>> = {
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  amr: 'audio/amr',
  awb: 'audio/amr-wb',
  gsm: 'audio/x-gsm',
  ogg: 'audio/ogg',
  opus: 'audio/ogg',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
  flac: 'audio/flac',
  wma: 'audio/x-ms-wma',
  g729: 'audio/G729',
  bin: 'application/octet-stream',
}

const MIME_EXT: Readonly<Record<string, string>> = {
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/wave': 'wav',
  'audio/vnd.wave': 'wav',
  'audio/mpeg': 'mp3',
  'audio/mp3': 'mp3',
  'audio/amr': 'amr',
  'audio/amr-wb': 'awb',
  'audio/x-gsm': 'gsm',
  'audio/gsm': 'gsm',
  'audio/ogg': 'ogg',
  'audio/opus': 'opus',
  'audio/mp4': 'm4a',
  'audio/x-m4a': 'm4a',
  'audio/aac': 'aac',
  'audio/flac': 'flac',
  'audio/x-flac': 'flac',
  'audio/x-ms-wma': 'wma',
}

/** The extension from the first bytes of the file, when they say. */
export function sniffExt(head: Buffer): string | undefined {
  const ascii = (a: number, b: number) => head.subarray(a, b).toString('latin1')
  if (head.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WAVE') return 'wav'
  if (ascii(0, 9) === '#!AMR-WB\n') return 'awb'
  if (ascii(0, 6) === '#!AMR\n') return 'amr'
  if (ascii(0, 4) === 'OggS') return 'ogg'
  if (ascii(0, 4) === 'fLaC') return 'flac'
  if (head.length >= 8 && ascii(4, 8) === 'ftyp') return 'm4a'
  if (ascii(0, 3) === 'ID3') return 'mp3'
  // an MPEG audio frame sync (11 bits set) with a layer that is not "reserved"
  if (head.length >= 2 && head[0] === 0xff && (head[1]! & 0xe0) === 0xe0 && (head[1]! & 0x06) !== 0) return 'mp3'
  return undefined
}

/**
 * The extension to store an upload under. The box's file name is data: only its last extension is
 * looked at, and only if it is one we know; then the part's MIME type; then the bytes; else `bin`.
 */
export function audioExt(fileName?: string, mimeType?: string, head?: Buffer): string {
  const m = /\.([A-Za-z0-9]{1,5})$/.exec(fileName ?? '')
  const byName = m?.[1]?.toLowerCase()
  if (byName && byName !== 'bin' && AUDIO_TYPES[byName]) return byName
  const byMime = MIME_EXT[(mimeType ?? '').split(';')[0]!.trim().toLowerCase()]
  if (byMime) return byMime
  return (head && sniffExt(head)) ?? 'bin'
}

const CALLID = /^[A-Za-z0-9._-]{1,128}$/

/**
 * callid becomes a file name: letters, digits, `.`, `_`, `-`, at most 128, no `..`, not starting with
 * `.` (hidden files are the store's temp files). `~` is left out so `callid~2` never names a real call.
 */
export function checkCallid(callid: unknown): string {
  if (typeof callid !== 'string' || callid === '') throw new InvalidRecording('callid', 'missing')
  if (!CALLID.test(callid)) throw new InvalidRecording('callid', `${JSON.stringify(callid.slice(0, 140))} is not 1–128 of A-Z a-z 0-9 . _ -`)
  if (callid.includes('..') || callid.startsWith('.')) throw new InvalidRecording('callid', `${JSON.stringify(callid)} starts with a dot or contains ".."`)
  return callid
}

/** Names Windows keeps for devices, with any extension (`con.txt` is CON), any case; COM0/LPT0 too. */
const WINDOWS_DEVICE = /^(?:CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(?:\.|$)/i
const pct = (c: string) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')

/**
 * The audio file's name without its extension for a recording id (`callid` or `callid~N`): the id
 * itself, except a callid Windows cannot use as a file name: a device name (`CON`, `com1.x`…) gets
 * its first character percent-encoded (`%43ON`), one ending in a dot its last (`abc%2E`; a space
 * cannot be in a callid). `%` is not a callid character, so an encoded name never equals another
 * callid's, and every other callid keeps the name it always had. The sidecar holds the real callid.
 */
export function fileStem(id: string): string {
  const m = /^(.*?)(~[1-9]\d{0,5})?$/.exec(id)!
  let callid = m[1]!
  if (WINDOWS_DEVICE.test(callid)) callid = pct(callid[0]!) + callid.slice(1)
  if (callid.endsWith('.') || callid.endsWith(' ')) callid = callid.slice(0, -1) + pct(callid.slice(-1))
  return callid + (m[2] ?? '')
}

/**
 * How the devices that upload are named. The device module decides (800hu: a MAC's 12 lowercase hex
 * digits, source `800hu-<mac>`), so the store knows no vendor.
 */
export interface BoxIds {
  /** a box id as a caller or an API query spells it → the stored form, or null when it is not one */
  normalise(raw: string): string | null
  /** the channel-table source of a box */
  source(box: string): string
  /** what a box id looks like, for error messages */
  readonly describe: string
}

/** Without a device module: ids as given (lowercase letters, digits, `-`, `_`); the source is the id. */
export const PLAIN_BOX_IDS: BoxIds = {
  normalise: (s) => (/^[0-9a-z][0-9a-z_-]{0,63}$/.test(s) ? s : null),
  source: (box) => box,
  describe: 'a box id (lowercase letters, digits, - and _)',
}

/** `raw` as a stored box id, or null (also for anything not a string). */
export function boxId(ids: BoxIds, raw: unknown): string | null {
  return typeof raw === 'string' ? ids.normalise(raw) : null
}

// Plausible call times: after 2000-01-01, and not more than two days ahead of the receive time
// (a box whose clock was never set reports 1970; one set to the wrong year must not file in 2099).
const EARLIEST_MS = Date.UTC(2000, 0, 1)
const AHEAD_MS = 2 * 86400_000

/** A vendor unix time in seconds (13-digit values are taken as milliseconds), or null when implausible. */
export function vendorTime(v: string | undefined, receivedMs: number): number | null {
  if (v === undefined || !/^\d{1,13}$/.test(v.trim())) return null
  let n = Number(v.trim())
  if (n >= 1e11) n = Math.floor(n / 1000)
  const ms = n * 1000
  return ms >= EARLIEST_MS && ms <= receivedMs + AHEAD_MS ? ms : null
}

function intField(v: string | undefined, max: number): number | null {
  if (v === undefined || !/^\d{1,9}$/.test(v.trim())) return null
  const n = Number(v.trim())
  return n <= max ? n : null
}

function direction(v: string | undefined): Direction | null {
  switch ((v ?? '').trim().toLowerCase()) {
    case 'in':
    case '2':
      return 'inbound'
    case 'out':
    case '1':
      return 'outbound'
    // the seed spells it `unkown` and means "not answered"
    case 'unkown':
    case 'unknown':
    case 'missed':
      return 'missed'
    default:
      return null
  }
}

export interface CoreFacts {
  id: string
  callid: string
  box: string
  source: string
  ext: string
  size: number
  md5: string
  sha256: string
  receivedMs: number
  file: string
  fields: Record<string, string>
}

/** The record, with every derived field computed from the fields as sent (also at index rebuild). */
export function buildRecord(c: CoreFacts): { record: RecordingRecord; timeMs: number } {
  const f = c.fields
  const start = vendorTime(f.start_time_secs, c.receivedMs)
  const end = vendorTime(f.start_time_hangup, c.receivedMs)
  const rec = f.recorded?.trim()
  const timeMs = start ?? c.receivedMs
  const record: RecordingRecord = {
    id: c.id,
    callid: c.callid,
    box: c.box,
    source: c.source,
    channel: intField(f.channel, 9999),
    phone: (f.callid_dialed ?? '').trim(),
    direction: direction(f.direction),
    startTime: start === null ? null : new Date(start).toISOString(),
    endTime: end === null ? null : new Date(end).toISOString(),
    durationSeconds: intField(f.duration_secs, 1e8),
    recorded: rec === '1' ? true : rec === '0' ? false : null,
    boxRecordId: f.id ?? null,
    time: new Date(timeMs).toISOString(),
    receivedAt: new Date(c.receivedMs).toISOString(),
    file: c.file,
    ext: c.ext,
    contentType: AUDIO_TYPES[c.ext] ?? 'application/octet-stream',
    size: c.size,
    md5: c.md5,
    sha256: c.sha256,
    fields: c.fields,
  }
  return { record, timeMs }
}

/** The sidecar's core facts, checked; throws a message naming the first bad key. */
export function readSidecar(json: unknown, file: string, ids: BoxIds): CoreFacts {
  const o = json as Record<string, unknown>
  const bad = (k: string) => new Error(`sidecar key ${k} missing or invalid`)
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new Error('sidecar is not a JSON object')
  if (o.format !== SIDECAR_FORMAT) throw bad('format')
  const callid = checkCallid(o.callid)
  if (typeof o.id !== 'string' || !(o.id === callid || new RegExp(`^${callid.replace(/[.]/g, '\\.')}~[1-9][0-9]{0,5}$`).test(o.id))) throw bad('id')
  const box = boxId(ids, o.box)
  if (!box) throw bad('box')
  if (typeof o.ext !== 'string' || !AUDIO_TYPES[o.ext]) throw bad('ext')
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw bad('size')
  if (typeof o.md5 !== 'string' || !/^[0-9a-f]{32}$/.test(o.md5)) throw bad('md5')
  if (typeof o.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.sha256)) throw bad('sha256')
  const receivedMs = typeof o.receivedAt === 'string' ? Date.parse(o.receivedAt) : NaN
  if (!Number.isFinite(receivedMs)) throw bad('receivedAt')
  const f = o.fields
  if (!f || typeof f !== 'object' || Array.isArray(f) || !Object.values(f).every((v) => typeof v === 'string')) throw bad('fields')
  return { id: o.id, callid, box, source: ids.source(box), ext: o.ext, size: o.size, md5: o.md5, sha256: o.sha256, receivedMs, file, fields: f as Record<string, string> }
}

const TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/

/**
 * A query time: epoch milliseconds (digits only), or ISO 8601 / `YYYY-MM-DD HH:MM:SS` (the 800hu
 * API's form). Without a zone it is the host's local time, like the date directories. Null if invalid.
 */
export function parseTime(s: string): number | null {
  const t = s.trim()
  if (/^\d{1,15}$/.test(t)) return Number(t)
  const m = TIME.exec(t)
  if (!m) return null
  const [y, mo, d, h, mi, sec, frac, zone] = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => m[i])
  const n = (v: string | undefined) => (v === undefined ? 0 : Number(v))
  const ms = frac === undefined ? 0 : Number(frac.padEnd(3, '0'))
  const parts = [n(y), n(mo) - 1, n(d), n(h), n(mi), n(sec), ms] as const
  if (parts[1] > 11 || parts[2] < 1 || parts[2] > 31 || parts[3] > 23 || parts[4] > 59 || parts[5] > 60) return null
  let out: number
  if (zone === undefined) out = new Date(...parts).getTime()
  else {
    out = Date.UTC(...parts)
    if (zone !== 'Z') {
      const zm = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!
      out -= (zm[1] === '-' ? -1 : 1) * (Number(zm[2]) * 60 + Number(zm[3])) * 60_000
    }
  }
  // Date rolls 2024-02-31 into March: refuse instead of guessing
  const check = zone === undefined ? new Date(out) : new Date(Date.UTC(...parts))
  const day = zone === undefined ? check.getDate() : check.getUTCDate()
  return Number.isFinite(out) && day === parts[2] ? out : null
}
