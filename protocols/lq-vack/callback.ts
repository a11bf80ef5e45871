/**
 * Mode 1 callbacks (seed 000 §mode 1): the LQ server GETs `custURL` when an inbound call reaches an
 * agent and `popCRURL` with an E-IVR result, the fields in the query string, percent-encoded in the
 * server's charset. Decoded into the same Pop the LQ-Connect pops give; encoded as the server does.
 */
import { isoInZone, lqTimeToIso, parseDtmf, popDataFields, PopError, type Pop } from '../lq-pop/index.js'
import { decodeForm, encodeForm, type FormCharset, type FormFields } from './form.js'

/** A callback URL's query (the part after `?`) → its fields; the first of repeated keys wins. */
export function decodeCallbackQuery(query: string, charset: FormCharset): Record<string, string> {
  return decodeForm(query, charset)
}

/** A request target (`/path?query`) → the query's fields. */
export function callbackFields(target: string, charset: FormCharset): Record<string, string> {
  const qi = target.indexOf('?')
  return decodeCallbackQuery(qi < 0 ? '' : target.slice(qi + 1), charset)
}

function rawOf(q: Record<string, string>): string {
  return Object.entries(q)
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
}

/** `datetime` (YYMMDDHHMMSS in the server's zone) or else `startTime` (ms) → ISO time; null when neither. */
function callbackTime(q: Record<string, string>, timeZone: string): string | null | PopError {
  const dt = q['datetime']?.trim()
  if (dt) {
    const iso = lqTimeToIso(dt, timeZone)
    if (iso === null) return new PopError('BAD_FIELD', `datetime must be YYMMDDHHMMSS, got ${JSON.stringify(dt.slice(0, 40))}`, '', 'datetime')
    return iso
  }
  const st = q['startTime']?.trim()
  if (st) {
    if (!/^\d{1,15}$/.test(st) || Number(st) > 253_402_300_799_999)
      return new PopError('BAD_FIELD', `startTime must be milliseconds since 1970, got ${JSON.stringify(st.slice(0, 40))}`, '', 'startTime')
    return isoInZone(Number(st), timeZone, true)
  }
  return null
}

const CUST_FIELDS = ['phone', 'oper', 'ch', 'outch', 'startTime', 'datetime', 'id', 'dtmf'] as const
const IVR_FIELDS = ['v', 'r', 'ph', 'pa', 'da'] as const

/** custURL: phone, oper, ch, outch, startTime, datetime, dtmf, id → an inbound pop on the external line (t1v3 with an agent, else t1v2). */
export function decodeCustCallback(q: Record<string, string>, timeZone: string): Pop | PopError {
  const raw = rawOf(q)
  const chS = (q['outch'] ?? '').trim() !== '' ? q['outch']!.trim() : (q['ch'] ?? '').trim()
  if (!/^\d{1,15}$/.test(chS))
    return new PopError(chS === '' ? 'MISSING_FIELD' : 'BAD_CHANNEL', `custURL call needs ch (or outch) as a channel number, got ${JSON.stringify(chS.slice(0, 40))}`, raw, 'ch')
  const phone = (q['phone'] ?? '').trim()
  if (!('phone' in q)) return new PopError('MISSING_FIELD', 'custURL call needs phone', raw, 'phone')
  const time = callbackTime(q, timeZone)
  if (time instanceof PopError) return new PopError(time.code, time.message, raw, time.field)
  const agentCh = (q['ch'] ?? '').trim()
  const st = (q['startTime'] ?? '').trim()
  const oper = (q['oper'] ?? '').trim() || null
  const extra = otherFields(q, CUST_FIELDS)
  if ((q['outch'] ?? '').trim() !== '' && agentCh !== '') extra['agentCh'] = agentCh
  const callId = (q['id'] ?? '').trim() || (st && agentCh ? st + agentCh : null)
  const format = oper ? 't1v3' : 't1v2'
  return {
    format,
    tag: format,
    channel: Number(chS),
    phone: phone === '' ? null : phone,
    callId,
    time,
    agent: oper,
    serial: null,
    kindCode: null,
    kind: null,
    direction: 'inbound',
    originAgent: null,
    member: null,
    data: null,
    daRaw: null,
    dataPairs: null,
    dtmf: parseDtmf(q['dtmf'] ?? ''),
    extra,
    raw,
  }
}

/** The fields of a callback that the document does not name, kept in `extra`. */
function otherFields(q: Record<string, string>, known: readonly string[]): Record<string, string> {
  const extra: Record<string, string> = {}
  for (const [k, v] of Object.entries(q)) if (!known.includes(k)) extra[k] = v
  return extra
}

/** popCRURL: v, r, ph, pa, da → a t2 pop (an E-IVR result). */
export function decodeIvrCallback(q: Record<string, string>): Pop | PopError {
  const raw = rawOf(q)
  const rS = (q['r'] ?? '').trim()
  if (rS !== '' && !/^[-+]?\d{1,9}$/.test(rS)) return new PopError('BAD_FIELD', `r must be an integer, got ${JSON.stringify(rS.slice(0, 40))}`, raw, 'r')
  const extra = otherFields(q, IVR_FIELDS)
  const ph = (q['ph'] ?? '').trim()
  return {
    format: 't2',
    tag: 't2',
    channel: null,
    phone: ph === '' ? null : ph,
    callId: null,
    time: null,
    agent: null,
    serial: null,
    kindCode: null,
    kind: null,
    direction: null,
    originAgent: null,
    member: null,
    ...popDataFields(q['da']),
    dtmf: [],
    ivr: { voId: (q['v'] ?? '').trim() || null, result: rS === '' ? null : Number(rS), param: q['pa'] === undefined ? null : q['pa'].trim() || null },
    extra,
    raw,
  }
}

/** custURL fields as the server sends them (`ch` the agent's channel, `outch` the external line). */
export interface CustCallbackFields {
  phone: string
  oper?: string
  ch?: number | string
  outch?: number | string
  /** ms since 1970 */
  startTime?: number | string
  /** YYMMDDHHMMSS in the server's zone */
  datetime?: string
  id?: string
  dtmf?: string
}

/** popCRURL fields: `v` the flow's vo_id, `r` the result, `ph` the phone, `pa` the parameter, `da` the collected data (`k:v|k:v`). */
export interface IvrCallbackFields {
  v?: string
  r?: number | string
  ph?: string
  pa?: string
  da?: string
}

/** Known fields in the server's order, then any others; undefined ones left out. */
function ordered(f: object, names: readonly string[], extra: FormFields): FormFields {
  const o = f as Record<string, string | number | undefined>
  const out: FormFields = {}
  for (const n of names) if (o[n] !== undefined) out[n] = o[n]
  for (const [k, v] of Object.entries(o)) if (!names.includes(k)) out[k] = v
  return Object.assign(out, extra)
}

/** The custURL query (without `?`) in `charset`. */
export function encodeCustCallback(f: CustCallbackFields, charset: FormCharset, extra: FormFields = {}): string {
  return encodeForm(ordered(f, CUST_FIELDS, extra), charset)
}

/** The popCRURL query (without `?`) in `charset`. */
export function encodeIvrCallback(f: IvrCallbackFields, charset: FormCharset, extra: FormFields = {}): string {
  return encodeForm(ordered(f, IVR_FIELDS, extra), charset)
}

/** The configured URL with the query appended: a URL ending in `?` or `&` takes it as is, as the server does. */
export function callbackUrl(base: string, query: string): string {
  const sep = base.endsWith('?') || base.endsWith('&') ? '' : base.includes('?') ? '&' : '?'
  return base + sep + query
}
