import { MAX_JSON_DEPTH, tooDeep } from '../json/depth.js'

/**
 * cmd=channelstatus: the `status` field (seed 003 §2.1.10), decoded and checked as a whole so a post
 * is applied completely or not at all, and encoded as a box writes it. Plain values: mapping line
 * states to channel-table states is the device module's business.
 */

export interface StatusDisk {
  /** `diskUsagePercent` as a number (the box sends "5"), null when absent or not a number */
  usagePercent: number | null
  /** `diskSize`, `diskSurplusSize` as sent (the document gives no unit) */
  size: string | null
  surplus: string | null
  /** `diskStatus`: 0 ok, -1 no disk, -2 mount failed, -3 not writable, -4 unknown error */
  status: number | null
  statusText: string | null
}

export interface StatusChannel {
  /** `ch`: the RJ11 port, from 1, without leading zeros */
  ch: string
  /** `state` as sent: 0 unplugged, 1 idle, 2 ringing, 3 dialing, 4 talking (others may come) */
  state: number
  phone: string | null
  /** `peer`: 1 outbound, 2 inbound */
  peer: string | null
  /** `timelen` in seconds */
  timelen: number | null
  serial: string | null
}

export interface BoxStatus {
  /** null when the post carries none of the disk fields (the last known disk state stands) */
  disk: StatusDisk | null
  /** `ip`: the box's configured LAN address */
  ip: string | null
  channels: StatusChannel[]
  /** placeholder entries (no `ch`, as in the seed's own template `"ch": "", "state": ""`) left out; absent when none */
  skipped?: number
}

/** The box's line states (`state` in channelstatus). */
export const LINE_STATE = { UNPLUGGED: 0, IDLE: 1, RINGING: 2, DIALING: 3, TALKING: 4 } as const
export const DISK_STATUS_TEXT: Record<number, string> = { 0: 'ok', [-1]: 'no disk found', [-2]: 'mount failed', [-3]: 'not writable', [-4]: 'unknown error' }
const MAX_CHANNELS = 256

export class StatusError extends Error {
  override name = 'StatusError'
}

/** `status` as the box sent it: a JSON string (form fields) or already an object (JSON bodies). Throws StatusError. */
export function decodeStatus(raw: unknown): BoxStatus {
  let v: unknown = raw
  if (typeof raw === 'string') {
    if (raw.length > 256 * 1024) throw new StatusError('status is longer than 256 KiB')
    try {
      v = JSON.parse(raw)
    } catch (err) {
      throw new StatusError(`status is not valid JSON (${(err as Error).message})`)
    }
  }
  // walked below (and shown in messages with JSON.stringify): refused before it can throw a RangeError;
  // a box's usual status (flat values, channels of flat objects) is seen to be shallow without the general walk
  if (!usualShape(v) && tooDeep(v)) throw new StatusError(`status nests deeper than ${MAX_JSON_DEPTH} levels`)
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new StatusError('status must be a JSON object')
  const o = v as Record<string, unknown>
  const usage = text(o.diskUsagePercent, 'diskUsagePercent', 32)
  const usageNum = usage === null ? null : Number(usage.replace(/%$/, ''))
  const diskStatus = int(o.diskStatus, 'diskStatus')
  const hasDisk = o.diskUsagePercent !== undefined || o.diskSize !== undefined || o.diskSurplusSize !== undefined || o.diskStatus !== undefined
  const report: BoxStatus = {
    disk: hasDisk
      ? {
          usagePercent: usageNum !== null && Number.isFinite(usageNum) ? usageNum : null,
          size: text(o.diskSize, 'diskSize', 32),
          surplus: text(o.diskSurplusSize, 'diskSurplusSize', 32),
          status: diskStatus,
          statusText: diskStatus === null ? null : (DISK_STATUS_TEXT[diskStatus] ?? `unknown diskStatus ${diskStatus}`),
        }
      : null,
    ip: text(o.ip, 'ip', 64),
    channels: [],
  }
  const chans = o.channels
  if (chans === undefined || chans === null || chans === '') return report
  if (!Array.isArray(chans)) throw new StatusError('status.channels must be an array')
  if (chans.length > MAX_CHANNELS) throw new StatusError(`status.channels has ${chans.length} entries (at most ${MAX_CHANNELS})`)
  const seen = new Set<string>()
  // field names for messages are built only for a message (`channels[i].…`): this loop runs for every line of every post
  for (let i = 0; i < chans.length; i++) {
    const c: unknown = chans[i]
    if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new StatusError(`channels[${i}] must be an object`)
    const e = c as Record<string, unknown>
    // a placeholder names no port: skipped and counted, the rest of the post still applies
    if ((e.ch === undefined || e.ch === null || (typeof e.ch === 'string' && e.ch.trim() === '')) && (e.state === undefined || e.state === null || e.state === '')) {
      report.skipped = (report.skipped ?? 0) + 1
      continue
    }
    const ch = text(e.ch, 'ch', 8, i)
    if (ch === null || !PORT.test(ch)) throw new StatusError(`channels[${i}].ch must be a port number, got ${show(e.ch)}`)
    const port = ch.charCodeAt(0) === 48 ? String(Number(ch)) : ch // "01" and 1 are the same port
    if (seen.has(port)) throw new StatusError(`channels[${i}].ch ${port} appears twice`)
    seen.add(port)
    const state = int(e.state, 'state', i)
    if (state === null) throw new StatusError(`channels[${i}].state is missing`)
    const phone = text(e.phone, 'phone', 64, i)
    if (phone !== null && CONTROL.test(phone)) throw new StatusError(`channels[${i}].phone holds control characters`)
    const peer = text(e.peer, 'peer', 4, i)
    const timelenText = text(e.timelen, 'timelen', 16, i)
    let timelen: number | null = null
    if (timelenText !== null) {
      timelen = Number(timelenText)
      if (!Number.isFinite(timelen) || timelen < 0) throw new StatusError(`channels[${i}].timelen must be a number of seconds, got ${show(e.timelen)}`)
    }
    report.channels.push({ ch: port, state, phone, peer, timelen, serial: text(e.serial, 'serial', 32, i) })
  }
  return report
}

const PORT = /^\d{1,4}$/
const CONTROL = /[\u0000-\u001f\u007f]/
const WHOLE = /^-?\d{1,9}$/

/** No value nested: a string, number, boolean or null. */
function flat(v: unknown): boolean {
  return typeof v !== 'object' || v === null
}

/** A status as boxes send it: flat values, `channels` an array of flat values or flat objects (3 levels). No allocation. */
function usualShape(v: unknown): boolean {
  if (flat(v)) return true
  if (Array.isArray(v)) return false // refused below, but a deep one as too deep, as before
  const o = v as Record<string, unknown>
  for (const k in o) {
    const x = o[k]
    if (flat(x)) continue
    if (k !== 'channels' || !Array.isArray(x)) return false
    for (let i = 0; i < x.length; i++) {
      const c: unknown = x[i]
      if (flat(c)) continue
      if (Array.isArray(c)) return false
      const e = c as Record<string, unknown>
      for (const f in e) if (!flat(e[f])) return false
    }
  }
  return true
}

/** What encodeStatus needs: a decoded status; `statusText` is derived and not sent. */
export type StatusInput = Omit<BoxStatus, 'disk' | 'skipped'> & { disk: Omit<StatusDisk, 'statusText'> | null }

/**
 * The `status` object as a box writes it: every value a string, as in the vendor's example, except
 * diskStatus; absent values as ''. Disk fields only when `disk` is given.
 */
export function statusWire(s: StatusInput): Record<string, unknown> {
  const str = (v: string | number | null) => (v === null ? '' : String(v))
  const out: Record<string, unknown> = {}
  if (s.disk) {
    out.diskUsagePercent = str(s.disk.usagePercent)
    out.diskSize = str(s.disk.size)
    out.diskSurplusSize = str(s.disk.surplus)
    if (s.disk.status !== null) out.diskStatus = s.disk.status
  }
  if (s.ip !== null) out.ip = s.ip
  out.channels = s.channels.map((c) => ({ ch: c.ch, state: String(c.state), phone: str(c.phone), timelen: str(c.timelen), peer: str(c.peer), serial: str(c.serial) }))
  return out
}

/** The `status` field's text (JSON). */
export function encodeStatus(s: StatusInput): string {
  return JSON.stringify(statusWire(s))
}

/**
 * A string or number as a string; '' / null / absent → null; anything else (objects, arrays, booleans) is malformed.
 * `at`: the channel's index, for a field of `channels[at]` (its name in messages).
 */
function text(v: unknown, field: string, max: number, at = -1): string | null {
  if (v === undefined || v === null) return null
  let s: string
  if (typeof v === 'string') s = v.trim()
  else if (typeof v === 'number' && Number.isFinite(v)) s = String(v)
  else throw new StatusError(`${fieldName(field, at)} must be a string or a number, got ${show(v)}`)
  if (s.length > max) throw new StatusError(`${fieldName(field, at)} is longer than ${max} characters`)
  return s === '' ? null : s
}

function int(v: unknown, field: string, at = -1): number | null {
  const s = text(v, field, 12, at)
  if (s === null) return null
  if (!WHOLE.test(s)) throw new StatusError(`${fieldName(field, at)} must be a whole number, got ${show(v)}`)
  return Number(s)
}

function fieldName(field: string, at: number): string {
  return at < 0 ? field : `channels[${at}].${field}`
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing'
  const s = JSON.stringify(v) ?? typeof v // a function or a symbol: not from JSON
  return s.length > 40 ? s.slice(0, 40) + '…' : s
}
