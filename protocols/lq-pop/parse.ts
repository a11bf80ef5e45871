/**
 * LQ-Connect pop strings (seed 002 ch. 5 and 8 "来电字符串说明"; t2 from seed 000's last section) → {@link Pop}.
 * Pure functions, no I/O.
 *
 * Where the vendor is silent, we decided:
 * - Format comes from the fields present, never from the tag: mb/da → t1v5, ty/so → t1v4, op/sn → t1v3,
 *   else t1v2. Only `H=t2…` (t2, t2v…) selects t2. Tags match case-insensitively; any other tag → UNKNOWN_FORMAT.
 * - A string whose first field has `=` is the k=v form (the `H=` field may be missing if there is a `ch=`);
 *   otherwise a string with `,` is t1v1 (≥ 4 fields; a missing 5th dtmf field = none).
 * - t1 pops need `ch` and `ph` (MISSING_FIELD); t2 needs nothing.
 * - Empty values count as absent (null), e.g. `ph=` → phone null (a hidden number), `ty=` → kindCode null.
 *   `ph` is not validated (it may be `anonymous`).
 * - `mb=0` → member null (the vendor's placeholder, like `so=0`, `da=0`, `dm=0`); other values as sent.
 * - `so` → originAgent only for ty 5/6 and not `0`; otherwise dropped (still in `raw`).
 * - ty outside 1–9 → kindCode kept, kind and direction null; non-numeric ty → BAD_FIELD. A t1v4/t1v5
 *   pop without ty has direction null; t1v1–t1v3 (no ty in the format) are inbound; t2 is null.
 * - `r` must be an integer (BAD_FIELD otherwise).
 * - `tm` is 20YY; a wall time skipped by a DST switch keeps its digits with the pre-switch offset, a
 *   repeated one is the earlier instant. t1v1 startTime is limited to years ≤ 9999 (BAD_FIELD).
 * - Values and `da` entries are trimmed (spaces, C0 controls incl. NUL, NBSP, BOM, U+3000); unknown keys
 *   keep their value as sent (key trimmed). A repeated key: the last one wins.
 * - Segments without a key (no `=`, or an empty key) and the vendor's `.....`/`…` glued before a key are
 *   kept in `extra['']` ({@link FRAGMENTS_KEY}), joined with `,`; empty segments are dropped.
 * - Keys of a t2 pop (`v`, `r`, `pa`) in a t1 pop go to `extra`.
 * - Whitespace, CR/LF and NULs around the pop are ignored (`raw` keeps them).
 * - `opts.timeZone` that Intl does not know → BAD_TIME_ZONE (only when the pop carries a time), so
 *   tryParsePop never throws.
 * - A lone LClientRcvStr status (`-100`, `-200`, `-201`, `-202`) → UNKNOWN_FORMAT saying so.
 */
import { isAscii } from 'node:buffer'
import iconv from 'iconv-lite'
import { hostTimeZone, isoInZone, isValidTimeZone, lqTimeToIso } from './time.js'
import type { IvrResult, ParseOptions, Pop, PopFormat, PopKind } from './types.js'

export type PopErrorCode =
  /** nothing but whitespace / NULs */
  | 'EMPTY'
  /** neither an `H=` k=v pop nor a t1v1 positional pop, or an `H=` tag that is not t1v* / t2 */
  | 'UNKNOWN_FORMAT'
  /** `ch` (or t1v1's first field) is not a non-negative integer */
  | 'BAD_CHANNEL'
  /** a field's value cannot be read (`tm`, `ty`, `r`, t1v1 `startTime`); `field` names it */
  | 'BAD_FIELD'
  /** a t1 pop lacks `ch` or `ph` (t1v1: fewer than 4 fields); `field` names it */
  | 'MISSING_FIELD'
  /** `opts.timeZone` is not an IANA zone Intl knows (a configuration error, not the pop's) */
  | 'BAD_TIME_ZONE'

/** A pop that cannot be read. `raw` is the decoded text exactly as received. */
export class PopError extends Error {
  override readonly name = 'PopError'
  readonly code: PopErrorCode
  readonly raw: string
  declare readonly field?: string

  constructor(code: PopErrorCode, message: string, raw: string, field?: string) {
    super(message)
    this.code = code
    this.raw = raw
    if (field !== undefined) this.field = field
  }
}

export type PopResult = { ok: true; pop: Pop } | { ok: false; error: PopError }

/**
 * Key in `Pop.extra` holding the segments that have no `key=` (the vendor's `.....` ellipses, or the
 * fields after t1v1's fifth), joined with `,` in the order received. The empty key cannot clash with
 * a real key: a segment `=x` (empty key) is itself such a segment.
 */
export const FRAGMENTS_KEY = ''

/**
 * Decode a GBK pop buffer exactly as `iconv.decode(buf, 'gbk')` does: invalid bytes become U+FFFD,
 * ASCII bytes after them are kept.
 *
 * iconv-lite costs ~3 µs a call whatever the length (it allocates a decoder and a UCS-2 buffer each
 * time), more than the whole rest of a parse. So: ASCII bytes are decoded as ASCII (GBK's single-byte
 * range), and each double-byte character is looked up in a table filled lazily from iconv-lite itself
 * (one `iconv.decode` per distinct pair, ever). Anything else — a pair iconv-lite does not map to one
 * character, 0x80, 0xFF, a lead byte at the end — sends the whole buffer through `iconv.decode`, so
 * the output is iconv-lite's in every case (checked for all 65,536 pairs in the tests).
 */
export function decodePop(buf: Uint8Array): string {
  // all bytes < 0x80: ASCII = GBK = Latin-1, and Buffer's latin1 decoder is the cheapest way there
  if (isAscii(buf)) return asBuffer(buf).toString('latin1')
  const n = buf.length
  let i = 0
  while ((buf[i] as number) < 0x80) i++
  if (n > scratch.length) return iconvDecode(buf)
  for (let k = 0; k < i; k++) scratch[k] = buf[k] as number
  let j = i
  while (i < n) {
    const x = buf[i] as number
    if (x < 0x80) {
      scratch[j++] = x
      i++
      continue
    }
    if (x === 0x80 || x === 0xff || i + 1 === n) return iconvDecode(buf)
    const key = (x << 8) | (buf[i + 1] as number)
    let c = pairs[key] as number
    if (c === 0) c = pairs[key] = learnPair(x, buf[i + 1] as number)
    if (c === NOT_ONE_CHAR) return iconvDecode(buf)
    scratch[j++] = c
    i += 2
  }
  // scratch holds UTF-16 code units we produced ourselves (not input bytes): this is no GBK decode
  return scratchBytes.toString('utf16le', 0, j * 2)
}

function iconvDecode(buf: Uint8Array): string {
  return iconv.decode(asBuffer(buf), 'gbk')
}

/** a Buffer view of the same bytes (no copy) */
function asBuffer(buf: Uint8Array): Buffer {
  return Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
}

const NOT_ONE_CHAR = 0xffff
/** GBK double-byte pair (lead << 8 | trail) → UTF-16 code unit; 0 = not looked up yet */
const pairs = new Uint16Array(0x10000)

function learnPair(lead: number, trail: number): number {
  const s = iconv.decode(Buffer.of(lead, trail), 'gbk')
  const c = s.charCodeAt(0)
  return s.length === 1 && c !== 0xfffd && c !== 0 && c !== NOT_ONE_CHAR ? c : NOT_ONE_CHAR
}

/** pops are at most 255 bytes (1-byte length prefix); larger inputs take the iconv-lite path */
const scratch = new Uint16Array(1024)
const scratchBytes = Buffer.from(scratch.buffer)

/** Encode a pop string as GBK bytes (for simulators and tests). */
export function encodePop(text: string): Buffer {
  return iconv.encode(text, 'gbk')
}

const KINDS: readonly (PopKind | null)[] = [
  null,
  'inbound',
  'manual-outbound',
  'inbound-three-way',
  'auto-outbound',
  'inbound-transfer',
  'outbound-transfer',
  'outbound-three-way',
  'test',
  'undefined',
]
const DIRECTIONS: readonly ('inbound' | 'outbound' | null)[] = [null, 'inbound', 'outbound', 'inbound', 'outbound', 'inbound', 'outbound', 'outbound', null, null]

/** `ty` code → name; null for codes the vendor does not define. */
export function popKindName(code: number): PopKind | null {
  return KINDS[code] ?? null
}

function isSpace(c: number): boolean {
  // C0 controls incl. NUL (C strings from LClient.dll), space, NBSP, BOM
  return c <= 0x20 || c === 0xa0 || c === 0xfeff || c === 0x3000
}

function trimAll(s: string): string {
  const n = s.length
  if (n === 0 || (!isSpace(s.charCodeAt(0)) && !isSpace(s.charCodeAt(n - 1)))) return s
  let a = 0
  let b = s.length
  while (a < b && isSpace(s.charCodeAt(a))) a++
  while (b > a && isSpace(s.charCodeAt(b - 1))) b--
  return s.slice(a, b)
}

function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90)
}

function isDigits(s: string): boolean {
  if (s.length === 0) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}

/**
 * The value of `s` if it is 1..maxDigits ASCII digits, else -1. Exact for maxDigits ≤ 15; cheaper than
 * isDigits + Number() on the fresh short slices a parse makes (Number() goes through the runtime).
 */
function digitsValue(s: string, maxDigits: number): number {
  const n = s.length
  if (n === 0 || n > maxDigits) return -1
  let v = 0
  for (let i = 0; i < n; i++) {
    const d = s.charCodeAt(i) - 48
    if (d < 0 || d > 9) return -1
    v = v * 10 + d
  }
  return v
}

/** `0`-`9`+ with an optional sign */
function isInteger(s: string): boolean {
  const c = s.charCodeAt(0)
  return c === 45 || c === 43 ? isDigits(s.slice(1)) : isDigits(s)
}

function setKey(obj: Record<string, string>, k: string, v: string): void {
  if (k === '__proto__') Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true })
  else obj[k] = v
}

function shorten(s: string): string {
  return s.length > 40 ? JSON.stringify(s.slice(0, 40)) + '…' : JSON.stringify(s)
}

/** `dm` / t1v1 dtmf: split on `;`, drop empty tokens; `NA` and the vendor default `0` alone → []. */
export function parseDtmf(value: string): string[] {
  const v = trimAll(value)
  if (v === '0;' || v === 'NA' || v === '' || v === '0' || v === 'NA;') return []
  const out: string[] = []
  let start = 0
  for (;;) {
    const i = v.indexOf(';', start)
    const tok = trimAll(i < 0 ? v.slice(start) : v.slice(start, i))
    if (tok !== '') out.push(tok)
    if (i < 0) break
    start = i + 1
  }
  return out.length === 1 && (out[0] === '0' || out[0] === 'NA') ? [] : out
}

/**
 * `da` entries in order. Seed 002: `da` is a free string "由使用者自定义自解析" (user-defined, the user
 * parses it), e.g. `country:china|province:jiangsu|city:nanjing`. Entries split on `|`, each on its
 * first `:` only; the key is the text before it, trimmed, when that holds no space (the seed's keys
 * are words like `meb_id`); otherwise (no `:`, or `2008-01-01 12:00:00`) the entry is a value without
 * a key: its pair is `['', value]` and its index is in `keyless`. Empty entries are dropped; `0` (the
 * default) or empty → no pairs. One scan gives both views (`dataPairs` as is, `data` from it).
 */
function daEntries(value: string): { pairs: [string, string][]; keyless: number[] | null } {
  const pairs: [string, string][] = []
  let keyless: number[] | null = null
  const v = trimAll(value)
  if (v === '' || v === '0') return { pairs, keyless }
  const n = v.length
  let pos = 0
  while (pos <= n) {
    let end = v.indexOf('|', pos)
    if (end < 0) end = n
    let c = v.indexOf(':', pos)
    if (c > end) c = -1
    const k = c < 0 ? null : trimAll(v.slice(pos, c))
    if (k === null || hasSpace(k)) {
      const entry = trimAll(v.slice(pos, end))
      if (entry !== '') (keyless ??= []).push(pairs.push(['', entry]) - 1)
    } else {
      const val = trimAll(v.slice(c + 1, end))
      if (k !== '' || val !== '') pairs.push([k, val])
    }
    pos = end + 1
  }
  return { pairs, keyless }
}

function hasSpace(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (isSpace(s.charCodeAt(i))) return true
  return false
}

/**
 * `da` as an object: `0` (default) or empty → {}; `k:v|k:v` → {k: v}, spaces trimmed, split at the
 * first `:`; a value without a key (see {@link parsePopDataPairs}) → {value: ''}; a repeated key: the
 * last wins. Lossy by design (kept for compatibility): `dataPairs` and `daRaw` are exact.
 */
export function parsePopData(value: string): Record<string, string> {
  return dataObject(daEntries(value))
}

function dataObject({ pairs, keyless }: ReturnType<typeof daEntries>): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i < pairs.length; i++) {
    const [k, val] = pairs[i]!
    if (keyless?.includes(i)) setKey(out, val, '')
    else setKey(out, k, val)
  }
  return out
}

/** `da` as ordered `[key, value]` pairs, repeats kept; a value without a key → `['', value]`. */
export function parsePopDataPairs(value: string): [string, string][] {
  return daEntries(value).pairs
}

/** A pop's three views of `da` (absent: all null), from one scan of the string. */
export function popDataFields(da: string | undefined): Pick<Pop, 'data' | 'daRaw' | 'dataPairs'> {
  if (da === undefined) return { data: null, daRaw: null, dataPairs: null }
  const entries = daEntries(da)
  return { data: dataObject(entries), daRaw: da, dataPairs: entries.pairs }
}

/** Strip the vendor documentation's ellipsis glued to a key (`.....da`); returns [prefix, key]. */
function splitKeyPrefix(key: string): [string, string] {
  let i = 0
  while (i < key.length) {
    const c = key.charCodeAt(i)
    if (c === 0x2e /* . */ || c === 0x2026 /* … */ || c === 0x3002 /* 。 */ || isSpace(c)) i++
    else break
  }
  return i === 0 ? ['', key] : [key.slice(0, i), key.slice(i)]
}

function checkZone(opts: ParseOptions | undefined, raw: string): string {
  const zone = opts?.timeZone ?? hostTimeZone()
  if (!isValidTimeZone(zone)) {
    throw new PopError('BAD_TIME_ZONE', `time zone ${shorten(zone)} is not an IANA zone name this Node knows`, raw, 'timeZone')
  }
  return zone
}

function parseChannel(v: string, raw: string): number {
  const channel = digitsValue(trimAll(v), 15)
  if (channel < 0) {
    throw new PopError('BAD_CHANNEL', `ch must be a non-negative integer, got ${shorten(v)}`, raw, 'ch')
  }
  return channel
}

function nonEmpty(v: string | undefined): string | null {
  if (v === undefined) return null
  const t = trimAll(v)
  return t === '' ? null : t
}

/** 9999-12-31T23:59:59.999Z: ISO output has 4-digit years */
const MAX_START_TIME = 253_402_300_799_999

function parseT1v1(s: string, raw: string, opts: ParseOptions | undefined): Pop {
  // ch,phone,reserved,startTime[,dtmf[,anything else…]]: find the commas rather than split (no array)
  const c1 = s.indexOf(',') // parsePop saw one
  const c2 = s.indexOf(',', c1 + 1)
  const c3 = c2 < 0 ? -1 : s.indexOf(',', c2 + 1)
  if (c3 < 0) {
    if (!isDigits(trimAll(s.slice(0, c1)))) {
      throw new PopError('UNKNOWN_FORMAT', `not a pop: neither H=… fields nor t1v1 ch,phone,…: ${shorten(s)}`, raw)
    }
    const fields = c2 < 0 ? 2 : 3
    throw new PopError('MISSING_FIELD', `t1v1 pop needs ch,phone,reserved,startTime[,dtmf]; got only ${fields} field(s)`, raw, fields === 2 ? 'reserved' : 'startTime')
  }
  const c4 = s.indexOf(',', c3 + 1)
  const c5 = c4 < 0 ? -1 : s.indexOf(',', c4 + 1)
  const chS = s.slice(0, c1)
  const phS = s.slice(c1 + 1, c2)
  const reserved = s.slice(c2 + 1, c3)
  const stS = s.slice(c3 + 1, c4 < 0 ? s.length : c4)
  const dmS = c4 < 0 ? 'NA' : s.slice(c4 + 1, c5 < 0 ? s.length : c5)
  const channel = parseChannel(chS, raw)
  const st = trimAll(stS)
  const startTime = digitsValue(st, 15)
  if (startTime < 0 || startTime > MAX_START_TIME) {
    throw new PopError('BAD_FIELD', `t1v1 startTime must be milliseconds since 1970 (UTC) before year 10000, got ${shorten(stS)}`, raw, 'startTime')
  }
  const zone = checkZone(opts, raw)
  const extra: Record<string, string> = { reserved: trimAll(reserved) }
  if (c5 >= 0) extra[FRAGMENTS_KEY] = s.slice(c5 + 1) // the fields after the fifth, commas and all
  return {
    format: 't1v1',
    tag: null,
    channel,
    phone: nonEmpty(phS),
    callId: st + channel,
    time: isoInZone(startTime, zone, true),
    agent: null,
    serial: null,
    kindCode: null,
    kind: null,
    direction: 'inbound',
    originAgent: null,
    member: null,
    data: null,
    daRaw: null,
    dataPairs: null,
    dtmf: parseDtmf(dmS),
    extra,
    raw,
  }
}

/** `t1v…` (any case) */
function isT1Tag(t: string): boolean {
  return t.length >= 3 && (t.charCodeAt(0) | 0x20) === 0x74 && t.charCodeAt(1) === 0x31 && (t.charCodeAt(2) | 0x20) === 0x76
}

/** `t2` or `t2v…` (any case) */
function isT2Tag(t: string): boolean {
  return t.length >= 2 && (t.charCodeAt(0) | 0x20) === 0x74 && t.charCodeAt(1) === 0x32 && (t.length === 2 || (t.charCodeAt(2) | 0x20) === 0x76)
}

const LCLIENT_STATUS = new Set(['-100', '-200', '-201', '-202'])

function parseKv(s: string, raw: string, opts: ParseOptions | undefined): Pop {
  // dm is the last field and may itself contain `;` (and anything else): from the first `,dm=` it
  // runs to the end (the loop below stops there). Without dm, the k=v fields are s[0, n): a trailing
  // `;` is no part of them.
  const n = s.charCodeAt(s.length - 1) === 59 ? s.length - 1 : s.length
  let dm: string | undefined

  let tag: string | null = null
  let ch: string | undefined
  let ph: string | undefined
  let id: string | undefined
  let tm: string | undefined
  let op: string | undefined
  let sn: string | undefined
  let ty: string | undefined
  let so: string | undefined
  let mb: string | undefined
  let da: string | undefined
  let v: string | undefined
  let r: string | undefined
  let pa: string | undefined
  let extra: Record<string, string> | undefined
  let fragments: string | undefined

  // One pass over the fields; keys of one or two letters dispatch on their char codes.
  let pos = 0
  while (pos < n) {
    // the segment's end (next `,`) and its first `=`; keys are mostly two letters, so look there first
    let end = s.indexOf(',', pos)
    if (end < 0 || end > n) end = n
    let eq: number
    if (s.charCodeAt(pos + 2) === 61 && s.charCodeAt(pos + 1) !== 61 && s.charCodeAt(pos) !== 61) eq = pos + 2
    else {
      eq = s.indexOf('=', pos)
      if (eq >= end) eq = -1
    }
    if (eq < 0 || eq >= end) {
      // a segment without `=`: kept (empty ones dropped)
      const seg = s.slice(pos, end)
      if (trimAll(seg) !== '') fragments = fragments === undefined ? seg : fragments + ',' + seg
      pos = end + 1
      continue
    }
    const klen = eq - pos
    let kc = -1 // (c0 << 8) | c1 for two-letter keys, c0 for one-letter keys
    let key: string | undefined
    const c0 = s.charCodeAt(pos)
    if (klen === 2 && isLetter(c0) && isLetter(s.charCodeAt(pos + 1))) kc = (c0 << 8) | s.charCodeAt(pos + 1)
    else if (klen === 1 && isLetter(c0)) kc = c0
    else {
      // slow path: spaces around the key, the vendor's `.....da=` ellipsis, long keys
      key = trimAll(s.slice(pos, eq))
      const [prefix, rest] = splitKeyPrefix(key)
      if (prefix !== '') {
        // `.....da=` → the ellipsis is a fragment and the key is da; `...=x` → the segment is a fragment
        if (rest !== '') fragments = fragments === undefined ? prefix : fragments + ',' + prefix
        key = rest
      }
      if (key === '') {
        const seg = s.slice(pos, end)
        fragments = fragments === undefined ? seg : fragments + ',' + seg
        pos = end + 1
        continue
      }
      if (key.length === 2) kc = (key.charCodeAt(0) << 8) | key.charCodeAt(1)
      else if (key.length === 1) kc = key.charCodeAt(0)
    }
    if (kc === 0x646d /* dm */ && key === undefined && pos > 0) {
      // `,dm=` exactly (a ` dm=` or a `dm=` opening the pop is an unknown key): the rest is dm
      dm = s.slice(eq + 1)
      break
    }
    const val = s.slice(eq + 1, end)
    switch (kc) {
      case 0x48: // H
        tag = trimAll(val)
        break
      case 0x6368: // ch
        ch = val
        break
      case 0x7068: // ph
        ph = val
        break
      case 0x6964: // id
        id = val
        break
      case 0x746d: // tm
        tm = val
        break
      case 0x6f70: // op
        op = val
        break
      case 0x736e: // sn
        sn = val
        break
      case 0x7479: // ty
        ty = val
        break
      case 0x736f: // so
        so = val
        break
      case 0x6d62: // mb
        mb = val
        break
      case 0x6461: // da
        da = val
        break
      case 0x76: // v
        v = val
        break
      case 0x72: // r
        r = val
        break
      case 0x7061: // pa
        pa = val
        break
      default:
        if (extra === undefined) extra = {}
        setKey(extra, key ?? s.slice(pos, eq), val)
    }
    pos = end + 1
  }
  if (extra === undefined) extra = {}
  if (fragments !== undefined) extra[FRAGMENTS_KEY] = fragments

  let format: PopFormat
  if (tag !== null && isT2Tag(tag)) {
    format = 't2'
  } else if (tag !== null && !isT1Tag(tag)) {
    throw new PopError('UNKNOWN_FORMAT', `unknown pop tag H=${shorten(tag)}: expected t1v1…t1v5 or t2`, raw, 'H')
  } else if (mb !== undefined || da !== undefined) format = 't1v5'
  else if (ty !== undefined || so !== undefined) format = 't1v4'
  else if (op !== undefined || sn !== undefined) format = 't1v3'
  else format = 't1v2'

  if (format !== 't2') {
    if (ch === undefined) {
      if (tag === null) {
        throw new PopError('UNKNOWN_FORMAT', `not a pop: no H= tag and no ch= field in ${shorten(raw)}`, raw)
      }
      throw new PopError('MISSING_FIELD', `${format} pop has no ch= (channel) field`, raw, 'ch')
    }
    if (ph === undefined) throw new PopError('MISSING_FIELD', `${format} pop has no ph= (phone) field`, raw, 'ph')
    // t2 keys in a t1 pop are not ours to interpret
    if (v !== undefined) setKey(extra, 'v', v)
    if (r !== undefined) setKey(extra, 'r', r)
    if (pa !== undefined) setKey(extra, 'pa', pa)
  }

  const channel = ch === undefined ? null : parseChannel(ch, raw)

  let time: string | null = null
  const tmT = nonEmpty(tm)
  if (tmT !== null) {
    const zone = checkZone(opts, raw)
    time = lqTimeToIso(tmT, zone)
    if (time === null) {
      throw new PopError('BAD_FIELD', `tm must be a valid local time YYMMDDHHMMSS, got ${shorten(tmT)}`, raw, 'tm')
    }
  }

  let kindCode: number | null = null
  const tyT = nonEmpty(ty)
  if (tyT !== null) {
    kindCode = digitsValue(tyT, 9)
    if (kindCode < 0) {
      throw new PopError('BAD_FIELD', `ty (pop kind) must be a number 1-9, got ${shorten(tyT)}`, raw, 'ty')
    }
  }
  const kind = kindCode === null ? null : (KINDS[kindCode] ?? null)
  let direction: 'inbound' | 'outbound' | null
  if (format === 't2') direction = null
  else if (kindCode !== null) direction = DIRECTIONS[kindCode] ?? null
  else direction = format === 't1v4' || format === 't1v5' ? null : 'inbound'

  const soT = nonEmpty(so)
  const originAgent = (kindCode === 5 || kindCode === 6) && soT !== null && soT !== '0' ? soT : null
  const mbT = nonEmpty(mb)
  const serial = nonEmpty(sn)
  const daFields = popDataFields(da)

  const pop: Pop = {
    format,
    tag,
    channel,
    phone: nonEmpty(ph),
    callId: nonEmpty(id) ?? serial,
    time,
    agent: nonEmpty(op),
    serial,
    kindCode,
    kind,
    direction,
    originAgent,
    member: mbT === '0' ? null : mbT,
    data: daFields.data,
    daRaw: daFields.daRaw,
    dataPairs: daFields.dataPairs,
    dtmf: dm === undefined ? [] : parseDtmf(dm),
    extra,
    raw,
  }

  if (format === 't2') {
    let result: number | null = null
    const rT = nonEmpty(r)
    if (rT !== null) {
      if (!isInteger(rT) || rT.length > 16) {
        throw new PopError('BAD_FIELD', `r (E-IVR result) must be an integer, got ${shorten(rT)}`, raw, 'r')
      }
      result = Number(rT)
    }
    const ivr: IvrResult = { voId: nonEmpty(v), result, param: nonEmpty(pa) }
    pop.ivr = ivr
  }
  return pop
}

/**
 * Parse one pop. Buffers are GBK (decoded with iconv-lite; invalid bytes become U+FFFD and the pop is
 * still delivered). Surrounding whitespace, CR/LF and NULs are ignored; `raw` keeps them.
 * @throws PopError — and nothing else — for a pop that cannot be read
 */
export function parsePop(input: Buffer | Uint8Array | string, opts?: ParseOptions): Pop {
  const raw = typeof input === 'string' ? input : decodePop(input)
  const s = trimAll(raw)
  if (s === '') throw new PopError('EMPTY', raw === '' ? 'empty pop' : 'pop holds only whitespace/NULs', raw)

  // k=v form if an `=` comes before the first `,`; t1v1 if there is a `,` and no such `=`
  let i = 0
  let c = 0
  for (; i < s.length; i++) {
    c = s.charCodeAt(i)
    if (c === 61 || c === 44) break
  }
  if (c === 61) return parseKv(s, raw, opts)
  if (c === 44) return parseT1v1(s, raw, opts)
  if (LCLIENT_STATUS.has(s)) {
    throw new PopError('UNKNOWN_FORMAT', `not a pop: ${s} is an LClientRcvStr status code (-100 nothing yet, -200 data error, -201 stopped, -202 invalid connection)`, raw)
  }
  throw new PopError('UNKNOWN_FORMAT', `not a pop: neither H=… fields nor t1v1 ch,phone,…: ${shorten(s)}`, raw)
}

/** {@link parsePop} without throwing: for the hot path. */
export function tryParsePop(input: Buffer | Uint8Array | string, opts?: ParseOptions): PopResult {
  try {
    return { ok: true, pop: parsePop(input, opts) }
  } catch (e) {
    if (e instanceof PopError) return { ok: false, error: e }
    /* c8 ignore start */
    // Not reachable by design (the fuzz test holds us to it); never let the hot path throw anyway.
    let raw = ''
    try {
      raw = typeof input === 'string' ? input : decodePop(input)
    } catch {
      // keep ''
    }
    return { ok: false, error: new PopError('UNKNOWN_FORMAT', `internal parser error: ${String(e)}`, raw) }
  }
  /* c8 ignore stop */
}
