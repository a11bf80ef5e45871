/**
 * Yantong answers and requests, pure: bytes → typed values and params → form bytes. No I/O.
 *
 * The vendor's server is PHP (`\/asterisk_file\/…`, `\u6210\u529f` are json_encode's escapes), so
 * answers are ASCII JSON in practice; a UTF-8 or GBK body with raw Chinese is decoded too. Fields are
 * loosely typed on the wire (errno "1" or 1, Extension 1001 or "1001"): everything is normalised here.
 */
import iconv from 'iconv-lite'
import { encodePairs } from '../text/percent.js'
import { DISPOSITIONS, ERRNO_TEXT, EXTEN_STATUS_TEXT, type Answer, type CallType, type CdrRecord, type Disposition, type ExtenStatus, type UserInfo } from './types.js'

/** The vendor answered and said no (errno ≠ 1). */
export class YantongError extends Error {
  override name = 'YantongError'
  constructor(
    readonly action: string,
    readonly errno: number,
    readonly vendorMessage: string,
  ) {
    super(`${action}: errno ${errno} ${vendorMessage}`)
  }
}

/** The answer is not the seed's JSON shape (an HTML error page, a truncated body, a wrong type). */
export class YantongFormatError extends Error {
  override name = 'YantongFormatError'
  constructor(
    readonly action: string,
    readonly reason: string,
    /** the start of what was received, for the log */
    readonly excerpt: string,
  ) {
    super(`${action}: answer not understood: ${reason}`)
  }
}

export type Charset = 'utf-8' | 'gbk'

/**
 * Body bytes → text: the charset of the Content-Type when it names a GB one; otherwise UTF-8, and
 * GBK when the bytes are not valid UTF-8 (a PHP page that echoes GBK without saying so).
 */
export function decodeBody(body: Uint8Array, contentType?: string | null): string {
  const cs = /charset\s*=\s*"?([\w-]+)/i.exec(contentType ?? '')?.[1]?.toLowerCase()
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  if (cs && /^(gbk|gb2312|gb18030|cp936)$/.test(cs)) return iconv.decode(buf, 'gb18030')
  const text = buf.toString('utf8')
  if (text.includes('\uFFFD') && !buf.includes(Buffer.from([0xef, 0xbf, 0xbd]))) return iconv.decode(buf, 'gb18030')
  return text
}

// Numbers that are really digit strings (a phone number, an extension) keep every digit: a bare
// 13888888888 is fine as a double, but a long or zero-led value would not be, so these are quoted
// before JSON.parse sees them.
const DIGIT_STRING_KEYS = /"(CallerNum|Extension|src|dst|phonenum|Phone|exten|staffid|StaffId|UserName|uniqueid|customerid)"(\s*:\s*)(-?\d+(?:\.\d+)?)(?=\s*[,}\]])/g

/** Text → `{errno, message, data}`; throws YantongFormatError for anything else. */
export function parseAnswer(action: string, text: string): Answer {
  const t = text.replace(/^\uFEFF/, '').trim()
  let v: unknown
  try {
    v = JSON.parse(t.replace(DIGIT_STRING_KEYS, '"$1"$2"$3"'))
  } catch (err) {
    throw new YantongFormatError(action, `not JSON (${(err as Error).message})`, excerpt(t))
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new YantongFormatError(action, 'not a JSON object', excerpt(t))
  const o = v as Record<string, unknown>
  const errno = intOf(o.errno)
  if (errno === null) throw new YantongFormatError(action, `errno missing or not a number (${JSON.stringify(o.errno)})`, excerpt(t))
  const message = typeof o.message === 'string' && o.message !== '' ? o.message : (ERRNO_TEXT[errno] ?? '')
  return { errno, message, data: o.data ?? null }
}

/** parseAnswer, then errno 1 or a YantongError carrying the vendor's errno and message. */
export function expectOk(action: string, text: string): Answer {
  const a = parseAnswer(action, text)
  if (a.errno !== 1) throw new YantongError(action, a.errno, a.message)
  return a
}

export function parseExtenStatus(action: string, data: unknown): ExtenStatus {
  const d: unknown = Array.isArray(data) ? data[0] : data
  if (!d || typeof d !== 'object') throw new YantongFormatError(action, 'data is not an object', excerpt(JSON.stringify(data) ?? ''))
  const o = d as Record<string, unknown>
  const status = intOf(o.Status ?? o.status)
  if (status === null) throw new YantongFormatError(action, `data.Status missing or not a number (${JSON.stringify(o.Status)})`, excerpt(JSON.stringify(d)))
  return { status, statusText: EXTEN_STATUS_TEXT[status] ?? null, extension: strOf(o.Extension ?? o.exten), callerNum: strOf(o.CallerNum) }
}

export interface CdrPage {
  records: CdrRecord[]
  /** entries that could not be read (no usable id), with why; never fatal for the page */
  invalid: { index: number; reason: string }[]
}

export function parseCdrList(action: string, data: unknown): CdrPage {
  if (data === null || data === '' || data === undefined) return { records: [], invalid: [] }
  if (!Array.isArray(data)) throw new YantongFormatError(action, 'data is not a list', excerpt(JSON.stringify(data) ?? ''))
  const records: CdrRecord[] = []
  const invalid: CdrPage['invalid'] = []
  data.forEach((r, index) => {
    if (!r || typeof r !== 'object' || Array.isArray(r)) return invalid.push({ index, reason: 'not an object' })
    const o = r as Record<string, unknown>
    const id = intOf(o.id)
    if (id === null || id < 0) return invalid.push({ index, reason: `id missing or not a whole number (${JSON.stringify(o.id)})` })
    const disp = (strOf(o.disposition) ?? '').toUpperCase().trim()
    const ct = strOf(o.calltype)
    records.push({
      id,
      src: strOf(o.src) ?? '',
      dst: strOf(o.dst) ?? '',
      calldate: strOf(o.calldate) ?? '',
      durationSeconds: intOf(o.duration_int ?? o.duration),
      billSeconds: intOf(o.billsec_int ?? o.billsec),
      disposition: (DISPOSITIONS as readonly string[]).includes(disp) ? (disp as Disposition) : 'UNKNOWN',
      customerId: strOf(o.customerid),
      companyId: strOf(o.companyid),
      classifId: strOf(o.ClassifId),
      projectId: strOf(o.ProjectId),
      staffId: strOf(o.staffid),
      exten: strOf(o.exten),
      codeid1: strOf(o.codeid_1),
      codeid2: strOf(o.codeid_2),
      uniqueId: strOf(o.uniqueid),
      callType: callTypeOf(ct),
      callTypeCode: ct,
    })
    return undefined
  })
  return { records, invalid }
}

export function callTypeOf(code: string | null): CallType {
  return code === '0' ? 'outbound' : code === '1' ? 'inbound' : code === '3' ? 'predictive' : 'unknown'
}

/** GetRecord → the recording paths (usually one). */
export function parseRecord(action: string, data: unknown): string[] {
  if (data === null || data === '' || data === undefined) return []
  const list = Array.isArray(data) ? data : [data]
  const out: string[] = []
  for (const r of list) {
    const p = r && typeof r === 'object' ? strOf((r as Record<string, unknown>).path) : null
    if (p === null) throw new YantongFormatError(action, 'data entry without a path', excerpt(JSON.stringify(r) ?? ''))
    out.push(p)
  }
  return out
}

export function parseUserInfo(action: string, data: unknown): UserInfo[] {
  if (data === null || data === '' || data === undefined) return []
  const list = Array.isArray(data) ? data : [data]
  return list.map((r) => {
    if (!r || typeof r !== 'object') throw new YantongFormatError(action, 'data entry is not an object', excerpt(JSON.stringify(r) ?? ''))
    const o = r as Record<string, unknown>
    return {
      userName: strOf(o.UserName),
      trueName: strOf(o.TrueName),
      roleName: strOf(o.RoleName),
      identity: strOf(o.Identity),
      departmentName: strOf(o.DepartmentName),
      phone: strOf(o.Phone),
      staffId: strOf(o.StaffId),
      updateTime: strOf(o.UpdateTime),
      createTime: strOf(o.CreateTime),
    }
  })
}

/**
 * Params → an x-www-form-urlencoded body (or query string) in the vendor's charset. UTF-8 is what
 * URLSearchParams does; GBK percent-encodes the GBK bytes, as a GBK PHP page expects.
 */
export function encodeParams(params: Record<string, string | number | undefined>, charset: Charset = 'utf-8'): string {
  return encodePairs(Object.entries(params), charset, 'form')
}

/** A whole number from a number or a numeric string; null otherwise. */
export function intOf(v: unknown): number | null {
  if (typeof v === 'number') return Number.isInteger(v) ? v : null
  if (typeof v === 'string' && /^\s*-?\d{1,15}\s*$/.test(v)) return Number(v)
  return null
}

/** A string field: numbers as their digits, empty and null as null. */
export function strOf(v: unknown): string | null {
  if (typeof v === 'string') return v === '' ? null : v
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  return null
}

function excerpt(s: string): string {
  return s.length > 200 ? s.slice(0, 200) + '…' : s
}
