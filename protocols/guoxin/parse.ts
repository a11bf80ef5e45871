/**
 * Pure decoders for what the Guoxin server sends: EXTNUM_STATE and call-log JSON, the `k=v;k=v`
 * answers of §18, and the push callback's parameters. Nothing here does I/O.
 */
import { CALL_RESULT_STATES } from './codes.js'
import type { CallLog, CallLogState, CallTaskResult, ExtCallState, ExtState, GuoxinPush, Presence, PushState, Skipped, TtsMonitor } from './types.js'

/** The server answered, but not in the documented form. */
export class GuoxinBadAnswer extends Error {
  override name = 'GuoxinBadAnswer'
  constructor(
    readonly what: string,
    message: string,
    readonly raw: string,
  ) {
    super(`${what}: ${message}`)
  }
}

/** Extension numbers and phone numbers: digits mostly; SIP accounts may carry letters. */
export const NUMBER_PATTERN = /^[0-9A-Za-z*#+._-]{1,64}$/
/** Call ids (`c635814c-…@192.168.1.82`) and businessIds (`14310454421088926826-0@192.168.1.102`). */
export const CALL_ID_PATTERN = /^[0-9A-Za-z@._:-]{1,128}$/

const EXT_STATES: Record<string, ExtCallState> = {
  IDEL: 'idle',
  IDLE: 'idle',
  ONLINE: 'idle',
  BUSY_OUTGOING: 'busy-outgoing',
  BUSY_INCOMING: 'busy-incoming',
  OFFLINE: 'offline',
}

const PRESENCES: Record<string, Presence> = { online: 'online', offline: 'offline', reducing: 'reducing', busy: 'busy', unkown: 'unknown', unknown: 'unknown' }

function parseJson(what: string, text: string): unknown {
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
  } catch (err) {
    throw new GuoxinBadAnswer(what, `not JSON (${(err as Error).message})`, text.slice(0, 200))
  }
}

/** A string field; numbers are accepted as their decimal form (telNum 801 as well as "801"). */
function str(o: Record<string, unknown>, k: string): string | null {
  const v = o[k]
  if (typeof v === 'string') return v
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  return null
}

function int(o: Record<string, unknown>, k: string): number | null {
  const v = o[k]
  if (typeof v === 'number' && Number.isInteger(v)) return v
  if (typeof v === 'string' && /^-?\d{1,15}$/.test(v.trim())) return Number(v)
  return null
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * EXTNUM_STATE (§14). The answer must be a JSON array; an entry without a usable telNum is skipped
 * and reported, the rest are kept (one odd extension must not blank out the others).
 */
export function parseExtStates(text: string): { states: ExtState[]; skipped: Skipped[] } {
  const json = parseJson('EXTNUM_STATE', text)
  if (!Array.isArray(json)) throw new GuoxinBadAnswer('EXTNUM_STATE', 'expected a JSON array', text.slice(0, 200))
  const states: ExtState[] = []
  const skipped: Skipped[] = []
  const seen = new Set<string>()
  json.forEach((e: unknown, index) => {
    if (!isObject(e)) return skipped.push({ index, reason: 'not an object' })
    const telNum = str(e, 'telNum')
    if (telNum === null || !NUMBER_PATTERN.test(telNum)) return skipped.push({ index, reason: `bad telNum ${JSON.stringify(e.telNum)}` })
    if (seen.has(telNum)) return skipped.push({ index, reason: `telNum ${telNum} listed twice` })
    seen.add(telNum)
    const stateRaw = str(e, 'state') ?? ''
    const presenceRaw = str(e, 'presence')
    const remote = str(e, 'remoteNum')
    const reg = int(e, 'telRegState')
    states.push({
      telNum,
      userName: str(e, 'userName'),
      registered: reg === null ? null : reg === 1,
      phoneType: str(e, 'phoneType'),
      state: EXT_STATES[stateRaw.toUpperCase()] ?? 'unknown',
      stateRaw,
      presence: (presenceRaw !== null && PRESENCES[presenceRaw.toLowerCase()]) || 'unknown',
      presenceRaw,
      missingCallCount: Math.max(0, int(e, 'missingCallCount') ?? 0),
      remoteNum: remote === null || remote === '' ? null : remote,
    })
  })
  return { states, skipped }
}

const LOG_STATES: Record<string, CallLogState> = { STATE_FAILED: 'failed', STATE_RECEIVED: 'received', STATE_RECEIVING: 'receiving' }
const LOG_KEYS = [
  'id',
  'caller',
  'callee',
  'channel',
  'begintime',
  'duration',
  'state',
  'calltype',
  'estimate',
  'record',
  'recordvoice',
  'cname',
  'servicetype',
  'manustate',
  'clickcallid',
  'fxonum',
  'productid',
  'callid',
]

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/** One call-log object; keys are matched without regard to case (the table writes `Record`, the example `record`). */
export function callLogFromJson(o: Record<string, unknown>): CallLog | null {
  const lc: Record<string, unknown> = {}
  const extra: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) {
    const l = k.toLowerCase()
    if (LOG_KEYS.includes(l)) lc[l] = v
    else extra[k] = v
  }
  const id = int(lc, 'id')
  if (id === null) return null
  const opt = (k: string) => {
    const v = str(lc, k)
    return v === null || v === '' ? null : v
  }
  const stateRaw = opt('state')
  const callid = opt('callid')
  return {
    id,
    caller: str(lc, 'caller') ?? '',
    callee: str(lc, 'callee') ?? '',
    channel: opt('channel'),
    beginTime: int(lc, 'begintime'),
    duration: int(lc, 'duration'),
    state: (stateRaw && LOG_STATES[stateRaw]) || 'unknown',
    stateRaw,
    callType: opt('calltype'),
    estimate: int(lc, 'estimate'),
    record: opt('record'),
    recordVoice: opt('recordvoice'),
    cname: opt('cname'),
    servicetype: opt('servicetype'),
    manustate: opt('manustate'),
    clickcallid: opt('clickcallid'),
    fxonum: opt('fxonum'),
    productid: int(lc, 'productid'),
    callid: callid === null ? null : safeDecode(callid),
    extra,
  }
}

/** CALL_LOG_QUERY (§21): a JSON array of call logs. Entries without an id are skipped and reported. */
export function parseCallLogs(text: string): { logs: CallLog[]; skipped: Skipped[] } {
  const json = parseJson('CALL_LOG_QUERY', text)
  if (!Array.isArray(json)) throw new GuoxinBadAnswer('CALL_LOG_QUERY', 'expected a JSON array', text.slice(0, 200))
  const logs: CallLog[] = []
  const skipped: Skipped[] = []
  json.forEach((e: unknown, index) => {
    const log = isObject(e) ? callLogFromJson(e) : null
    if (log) logs.push(log)
    else skipped.push({ index, reason: isObject(e) ? 'no numeric id' : 'not an object' })
  })
  return { logs, skipped }
}

/** CALL_LOG_GET_WITH_CALLID: one object (or a one-element array); empty answer, `null` or `[]` → null. */
export function parseCallLog(text: string): CallLog | null {
  if (text.trim() === '') return null
  const json = parseJson('CALL_LOG_GET_WITH_CALLID', text)
  const o: unknown = Array.isArray(json) ? json[0] : json
  if (o === undefined || o === null) return null
  if (!isObject(o)) throw new GuoxinBadAnswer('CALL_LOG_GET_WITH_CALLID', 'expected a JSON object', text.slice(0, 200))
  const log = callLogFromJson(o)
  if (!log) throw new GuoxinBadAnswer('CALL_LOG_GET_WITH_CALLID', 'the entry has no numeric id', text.slice(0, 200))
  return log
}

/** `state=1;satisfact=8` → {state: '1', satisfact: '8'} (also accepts `&` and line breaks between pairs). */
export function parseKv(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of text.trim().split(/[;&\r\n]+/)) {
    if (!part) continue
    const eq = part.indexOf('=')
    if (eq <= 0) continue
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim()
  }
  return out
}

/**
 * GET_CAPTCHA_RESULT / IVR_TTS_CALL_RESULT: the body is the state code, bare (`1`) or as
 * `state=1;satisfact=8`; an HTTP 404 means the same as code 404 (no such id).
 */
export function parseTaskResult(what: string, status: number, text: string): CallTaskResult {
  const raw = text.trim()
  if (status === 404) return { code: 404, state: 'no-such-id', vars: {}, raw }
  let code: number
  let vars: Record<string, string> = {}
  if (/^\d{1,3}$/.test(raw)) code = Number(raw)
  else {
    vars = parseKv(raw)
    const s = vars.state
    if (s === undefined || !/^\d{1,3}$/.test(s)) throw new GuoxinBadAnswer(what, 'expected a state code or state=N;…', raw.slice(0, 200))
    code = Number(s)
    delete vars.state
  }
  return { code, state: CALL_RESULT_STATES[code]?.name ?? 'unknown', vars, raw }
}

const CLICK_CALL_ID = /^[\x21-\x7e]{1,128}$/

/**
 * CLICK_TO_DIAL's answer body: the seed (§21 clickcallid) says the click-to-dial call "立刻返回
 * clickcallid 值" without showing the form, so a bare token, `clickcallid=…` or a JSON object with
 * `clickcallid` are read; anything else (an empty body) is null.
 */
export function parseClickCallId(text: string): string | null {
  const raw = text.charCodeAt(0) === 0xfeff ? text.slice(1).trim() : text.trim()
  if (raw === '') return null
  let v: unknown = raw
  if (raw.startsWith('{')) {
    try {
      const o: unknown = JSON.parse(raw)
      v = isObject(o) ? o.clickcallid : null
    } catch {
      return null
    }
  } else if (/^clickcallid=/i.test(raw)) v = Object.entries(parseKv(raw)).find(([k]) => k.toLowerCase() === 'clickcallid')?.[1]
  if (typeof v === 'number' && Number.isSafeInteger(v)) v = String(v)
  return typeof v === 'string' && CLICK_CALL_ID.test(v) && !/[<>"'`\\]/.test(v) ? v : null
}

/** IVR_TTS_CALL_MONITOR: `queue=0;playcount=0`. */
export function parseTtsMonitor(text: string): TtsMonitor {
  const kv = parseKv(text)
  const n = (k: string) => {
    const v = kv[k]
    if (v === undefined || !/^\d{1,9}$/.test(v)) throw new GuoxinBadAnswer('IVR_TTS_CALL_MONITOR', `expected ${k}=<number>`, text.slice(0, 200))
    return Number(v)
  }
  return { queue: n('queue'), playcount: n('playcount') }
}

export type PushResult = { ok: true; push: GuoxinPush } | { ok: false; field: string; message: string }

const PUSH_STATES: readonly PushState[] = ['calling', 'ringing', 'canceled', 'talking', 'hungup']

/** Push ids and businessIds: any visible ASCII (ids with `+/=` are seen), no quotes or angle brackets, at most 128. */
const PUSH_ID = /^[\x21-\x7e]{1,128}$/
const UNSAFE = /[<>"'`\\]/
/** A push's caller or callee: a number, or a SIP/tel URI (`sip:801@10.0.0.6:5060`). */
const PUSH_PARTY = /^[0-9A-Za-z*#+._:@=~!$-]{1,128}$/
/** group (Chinese group names are seen) and direction: any text but control characters and markup, bounded. */
const PUSH_TEXT = /^[^\x00-\x1f\x7f<>"'`\\]*$/u

/** `sip:801@10.0.0.6:5060` → `801`; a plain number as it is. */
export function pushNumber(v: string): string {
  const m = /^(?:sips?|tel):([^@;]+)/i.exec(v)
  return m ? m[1]! : v
}

/**
 * The push callback's fields (§4), already percent-decoded (query string or form body). Every field
 * is checked, tolerantly: ids may carry `+/=`, callers may be SIP URIs (the number is taken from
 * them), group names may be Chinese; lengths are bounded and control characters refused. The first
 * bad field is named. Parameters the seed does not list are ignored (a newer server may add some).
 */
export function parsePush(query: Record<string, unknown>): PushResult {
  const bad = (field: string, message: string): PushResult => ({ ok: false, field, message })
  const one = (k: string): string | undefined | null => {
    const v = query[k]
    if (v === undefined) return undefined
    return typeof v === 'string' ? v : null
  }
  const fields = ['id', 'caller', 'callee', 'state', 'direction', 'businessId', 'group'] as const
  const v: Partial<Record<(typeof fields)[number], string>> = {}
  for (const f of fields) {
    const x = one(f)
    if (x === null) return bad(f, `${f} given more than once`)
    if (x !== undefined) v[f] = x
  }
  const shown = (s: string) => JSON.stringify(s.slice(0, 40))
  const idOk = (s: string) => PUSH_ID.test(s) && !UNSAFE.test(s)
  if (v.id === undefined || v.id === '') return bad('id', 'id is missing')
  if (!idOk(v.id)) return bad('id', `id must be 1–128 visible ASCII characters without quotes or <>, got ${shown(v.id)}`)
  if (v.callee === undefined || v.callee === '') return bad('callee', 'callee is missing')
  if (!PUSH_PARTY.test(v.callee)) return bad('callee', `callee must be a number or SIP URI (1–128 of 0-9 A-Z a-z * # + . _ : @ = ~ ! $ -), got ${shown(v.callee)}`)
  if (v.caller === undefined) return bad('caller', 'caller is missing')
  if (v.caller !== '' && !PUSH_PARTY.test(v.caller)) return bad('caller', `caller must be a number or SIP URI (1–128 of 0-9 A-Z a-z * # + . _ : @ = ~ ! $ -) or empty, got ${shown(v.caller)}`)
  if (v.state === undefined) return bad('state', 'state is missing')
  if (!(PUSH_STATES as readonly string[]).includes(v.state)) return bad('state', `state must be one of ${PUSH_STATES.join(', ')}, got ${shown(v.state)}`)
  if (v.direction !== undefined && (v.direction.length > 32 || !PUSH_TEXT.test(v.direction)))
    return bad('direction', `direction must be up to 32 characters without control characters, got ${shown(v.direction)}`)
  if (v.businessId !== undefined && v.businessId !== '' && !idOk(v.businessId)) {
    return bad('businessId', `businessId must be "maincall" or 1–128 visible ASCII characters without quotes or <>, got ${shown(v.businessId)}`)
  }
  if (v.group !== undefined && (v.group.length > 64 || !PUSH_TEXT.test(v.group))) return bad('group', `group must be up to 64 characters without control characters, got ${shown(v.group)}`)
  const businessId = v.businessId === undefined || v.businessId === '' ? null : v.businessId
  return {
    ok: true,
    push: {
      id: v.id,
      caller: v.caller === '' ? null : pushNumber(v.caller),
      callee: pushNumber(v.callee),
      state: v.state as PushState,
      direction: v.direction === undefined || v.direction === '' ? null : v.direction,
      businessId,
      mainCall: businessId === 'maincall',
      group: v.group === undefined || v.group === '' ? null : v.group,
    },
  }
}
