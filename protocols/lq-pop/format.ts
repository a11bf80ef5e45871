/**
 * Build vendor-form pop strings (for the simulator and tests). `parsePop(formatPop(x, v))` gives back
 * what `x` holds, except what the wire cannot carry (see {@link PopFields}).
 * Field order follows seed 002 chapter 8: t1v2 `ch,ph,id,tm,dm`; t1v3 `ch,ph,id,tm,op,sn,dm`;
 * t1v4 `ch,ph,ty,tm,op,sn,so,dm`; t1v5 `ch,ph,ty,tm,op,sn,so,mb,da,dm`; t2 `v,r,ph,pa,da`.
 */
import { FRAGMENTS_KEY } from './parse.js'
import { formatLqTime, hostTimeZone } from './time.js'
import type { PopFormat } from './types.js'

export interface PopFields {
  /** `ch`; required for t1 formats, optional for t2 (the vendor's t2 has none) */
  channel?: number | null
  /** `ph`; null/'' → `ph=` (a hidden number) */
  phone?: string | null
  /** the call's start: `tm` (to the second, in `timeZone`), and t1v1's startTime when that is not given */
  time?: Date | number | null
  /** t1v1 startTime (ms since 1970 UTC); default `time` */
  startTime?: number | null
  /** zone `tm` is written in; default the host's */
  timeZone?: string
  /** t1v1's third field (`备用字段`); default '1000', as in the vendor's example */
  reserved?: string
  /** `id`. t1v2/t1v3 default: the vendor's rule, `time` in ms followed by the channel. t1v4/t1v5/t2: sent only if given */
  callId?: string | null
  /** `op` */
  agent?: string | null
  /** `sn` */
  serial?: string | null
  /** `ty` (t1v4/t1v5) */
  kindCode?: number | null
  /** `so` (t1v4/t1v5); null → `so=0` as the vendor sends */
  originAgent?: string | null
  /** `mb` (t1v5); null → `mb=0` */
  member?: string | null
  /** `da` (t1v5, t2); null/{} → `da=0` in t1v5, left out of t2 when null */
  data?: Record<string, string> | null
  /** `dm` / t1v1 dtmf; [] → `dm=0;` / `NA`. A lone key `0` cannot be told from "none" on the wire */
  dtmf?: string[]
  /** t2 only */
  ivr?: { voId?: string | null; result?: number | null; param?: string | null }
  /** more `k=v` fields, sent before `dm` (k=v forms only); key '' (FRAGMENTS_KEY) is sent as bare segments */
  extra?: Record<string, string>
  /** the `H=` value to send; default the version. ('t1v4' with version 't1v5' mimics the vendor's own example) */
  tag?: string
}

function check(name: string, v: string, allowSemicolon = false): string {
  if (v.includes(',') || (!allowSemicolon && v.includes(';'))) {
    throw new RangeError(`${name} cannot carry ',' or ';' in a pop string: ${JSON.stringify(v)}`)
  }
  return v
}

/** the characters the parser trims and that keep text before a `:` from being a `da` key */
const DA_SPACE = /[\x00-\x20\u00a0\ufeff\u3000]/

function dataString(data: Record<string, string> | null | undefined): string {
  if (data == null) return '0'
  const entries = Object.entries(data)
  if (entries.length === 0) return '0'
  return entries
    .map(([k, v]) => {
      // a value without a key (`2008-01-01 12:00:00`, parsed as {value: ''}) goes out bare; its `:` is
      // fine as long as the text before it holds a space, so it parses back as the same keyless value
      if (/[|=,;]/.test(k) || /[|=,;]/.test(v) || (k.includes(':') && (v !== '' || !DA_SPACE.test(k.slice(0, k.indexOf(':')))))) {
        throw new RangeError(`da entry cannot carry | : = , ; — got ${JSON.stringify(k)}:${JSON.stringify(v)}`)
      }
      return v === '' ? k : k + ':' + v
    })
    .join('|')
}

function dtmfString(dtmf: string[] | undefined, none: string): string {
  if (dtmf === undefined || dtmf.length === 0) return none
  for (const k of dtmf) {
    if (k === '' || /[,;]/.test(k)) throw new RangeError(`dtmf key cannot be empty or carry , ; — got ${JSON.stringify(k)}`)
  }
  return dtmf.join(';') + ';'
}

function timeMs(t: Date | number): number {
  return typeof t === 'number' ? t : t.getTime()
}

/**
 * A pop string in the vendor's form for `version`.
 * @throws RangeError when a value cannot be carried (a `,` or `;` inside, no channel for t1, no time for t1v1)
 */
export function formatPop(fields: PopFields, version: PopFormat): string {
  const zone = fields.timeZone ?? hostTimeZone()
  const t1 = version !== 't2'
  if (t1 && (fields.channel == null || !Number.isSafeInteger(fields.channel) || fields.channel < 0)) {
    throw new RangeError(`${version} needs a non-negative integer channel, got ${String(fields.channel)}`)
  }
  const ch = fields.channel == null ? null : String(fields.channel)
  const ph = check('phone', fields.phone ?? '')

  if (version === 't1v1') {
    const st = fields.startTime ?? (fields.time == null ? null : timeMs(fields.time))
    if (st == null) throw new RangeError('t1v1 needs startTime or time')
    const reserved = check('reserved', fields.reserved ?? '1000')
    return `${ch},${ph},${reserved},${Math.trunc(st)},${dtmfString(fields.dtmf, 'NA')}`
  }

  const out: string[] = ['H=' + check('tag', fields.tag ?? version)]
  const put = (k: string, v: string | null | undefined): void => {
    if (v != null) out.push(k + '=' + check(k, v))
  }
  const tm = fields.time == null ? null : formatLqTime(fields.time, zone)

  if (version === 't2') {
    put('ch', ch)
    put('v', fields.ivr?.voId)
    const r = fields.ivr?.result
    put('r', r == null ? null : String(r))
    put('ph', ph)
    put('pa', fields.ivr?.param)
    put('id', fields.callId)
    if (fields.data != null) put('da', dataString(fields.data))
  } else {
    put('ch', ch)
    put('ph', ph)
    if (version === 't1v2' || version === 't1v3') {
      put('id', fields.callId ?? (fields.time == null ? null : String(timeMs(fields.time)) + ch))
    } else {
      put('id', fields.callId)
      put('ty', fields.kindCode == null ? null : String(fields.kindCode))
    }
    put('tm', tm)
    // the fields that mark a version are always sent (empty when null), so the version survives
    if (version !== 't1v2') {
      put('op', fields.agent ?? '')
      put('sn', fields.serial ?? '')
    }
    if (version === 't1v4' || version === 't1v5') put('so', fields.originAgent ?? '0')
    if (version === 't1v5') {
      put('mb', fields.member ?? '0')
      put('da', dataString(fields.data))
    }
  }
  for (const [k, v] of Object.entries(fields.extra ?? {})) {
    if (k === FRAGMENTS_KEY) out.push(check('fragments', v))
    else {
      if (/[=,;]/.test(k)) throw new RangeError(`extra key cannot carry = , ; — got ${JSON.stringify(k)}`)
      put(k, v)
    }
  }
  if (t1) out.push('dm=' + dtmfString(fields.dtmf, '0;'))
  return out.join(',') + (t1 ? '' : ';')
}
