import { randomUUID } from 'node:crypto'
import { EVENT_TYPE, type WebhookEvent } from './config.js'
import { vendorTime as zoned } from '../../protocols/800hu/time.js'

/**
 * What a webhook receives, built from bus events: the seed's push fields (003 §2.10.4: `type`,
 * `peer`, `phone`, `memo`, with `memo` the call record as JSON text using the vendor's `cdr…` keys)
 * plus telbridge's own `id` (unique: receivers dedupe with it, as delivery is at-least-once),
 * `event`, `source`, `channel` and `time`. Pure apart from the clock and random ids.
 */

export interface Notification {
  id: string
  event: WebhookEvent
  /** when it happened, ISO 8601 */
  time: string
  source: string
  channel: string | null
  /** exactly what goes on the wire, as strings (memo: JSON text) */
  fields: { type: string; peer: string; phone: string; memo: string }
}

/** Vendor time text: `YYYY-MM-DD HH:MM:SS` in the daemon's `timeZone` (default: the host's), as the local 800hu API shows times. */
export function vendorTime(ms: number, zone?: string): string {
  return zoned(ms, zone)
}

function peerOf(direction: unknown): '' | '1' | '2' {
  // missed calls on a box are unanswered inbound calls
  return direction === 'outbound' ? '1' : direction === 'inbound' || direction === 'missed' ? '2' : ''
}

function make(event: WebhookEvent, timeMs: number, source: string, channel: string | null, phone: string, peer: string, memo: Record<string, unknown>): Notification {
  return {
    id: randomUUID(),
    event,
    time: new Date(timeMs).toISOString(),
    source,
    channel,
    fields: { type: String(EVENT_TYPE[event]), peer, phone, memo: JSON.stringify(memo) },
  }
}

/** The shape of a `channel` bus event (daemon.ts: entryJson + changed + previousState). */
interface ChannelEventData {
  id: string
  source: string
  channel: string
  state: string
  phone: string | null
  direction: string | null
  callId: string | null
  since: string
  changed: string[]
  previousState: string | null
  vendor?: Record<string, unknown> | null
}

interface Call {
  startMs: number
  answeredMs: number | null
  phone: string
  direction: string | null
  callId: string | null
  /** the call's record comes from the device's upload (800hu box): the hang-up is pushed from there, under the box's callid */
  byUpload: boolean
  paramvalue: string | null
}

const ACTIVE = new Set(['ringing', 'dialing', 'talking', 'held'])

/**
 * Follows each channel through its calls: a call begins when the channel leaves idle/offline/unknown
 * for ringing/dialing/talking/held (`call`), is answered at its first `talking` (`answer`), and hangs
 * up when the channel returns to `idle` (`hangup`, with start, hang-up and talk time). A channel that
 * goes `offline` or `unknown` mid-call (box silent, source down) ends the tracking without a hang-up:
 * telbridge does not know the call ended. The number and direction are remembered during the call,
 * because a box reports an idle line with an empty phone.
 */
export class CallTracker {
  private readonly calls = new Map<string, Call>()

  constructor(private readonly zone?: string) {}

  get active(): number {
    return this.calls.size
  }

  onChannel(raw: unknown, timeMs: number): Notification[] {
    const d = raw as ChannelEventData
    if (!d || typeof d.id !== 'string' || typeof d.source !== 'string') return []
    if (d.changed?.includes('removed')) {
      this.calls.delete(d.id)
      return []
    }
    const out: Notification[] = []
    let call = this.calls.get(d.id)
    if (ACTIVE.has(d.state)) {
      if (!call) {
        // a channel first seen mid-call (daemon restart) started when it entered its state
        const since = Date.parse(d.since)
        const startMs = d.previousState === null && Number.isFinite(since) ? since : timeMs
        call = { startMs, answeredMs: null, phone: d.phone ?? '', direction: d.direction, callId: d.callId, byUpload: d.vendor?.cdr === 'upload', paramvalue: null }
        this.calls.set(d.id, call)
        if (typeof d.vendor?.paramvalue === 'string') call.paramvalue = d.vendor.paramvalue
        out.push(this.note('call', call, d, timeMs))
      }
      if (d.phone) call.phone = d.phone
      if (d.direction) call.direction = d.direction
      if (d.callId) call.callId = d.callId
      if (typeof d.vendor?.paramvalue === 'string') call.paramvalue = d.vendor.paramvalue
      if (d.state === 'talking' && call.answeredMs === null) {
        call.answeredMs = timeMs
        out.push(this.note('answer', call, d, timeMs))
      }
    } else if (call) {
      this.calls.delete(d.id)
      // a box's hang-up is pushed when its upload brings the call record (recordingNotifications)
      if (d.state === 'idle' && !call.byUpload) out.push(this.note('hangup', call, d, timeMs))
    }
    return out
  }

  private note(event: 'call' | 'answer' | 'hangup', call: Call, d: ChannelEventData, timeMs: number): Notification {
    const memo: Record<string, unknown> = {}
    // a box numbers its call only in the upload that follows the hang-up: until then there is no cdrId to give
    if (!call.byUpload) memo.cdrId = call.callId ?? `${d.id}@${call.startMs}`
    Object.assign(memo, {
      // one form everywhere (pushes, findDialrecord): the channel id `<source>:<channel>`
      cdrExtension: d.id,
      cdrPhonePort: d.channel,
      cdrPhoneNum: call.phone,
      cdrLastPhoneNum: call.phone.replace(/^0+/, ''),
      cdrPeer: Number(peerOf(call.direction)) || null,
      cdrStartTime: vendorTime(call.startMs, this.zone),
    })
    if (call.paramvalue !== null) memo.paramvalue = call.paramvalue
    if (call.answeredMs !== null) memo.cdrAnswerTime = vendorTime(call.answeredMs, this.zone)
    if (event === 'hangup') {
      memo.cdrHangupTime = vendorTime(timeMs, this.zone)
      memo.cdrTalktime = call.answeredMs === null ? 0 : Math.max(0, Math.round((timeMs - call.answeredMs) / 1000))
      memo.cdrRingTime = Math.max(0, Math.round(((call.answeredMs ?? timeMs) - call.startMs) / 1000))
    }
    return make(event, timeMs, d.source, d.channel, call.phone, peerOf(call.direction), memo)
  }
}

/** The shape of a `recording` (or, kept without audio, `cdr`) bus event from the recording store (core/recordings/record.ts RecordingRecord), the fields used here. */
interface RecordingEventData {
  id: string
  callid: string
  box: string
  source?: string
  channel: number | null
  phone: string
  direction: string | null
  startTime: string | null
  endTime: string | null
  durationSeconds: number | null
  recorded: boolean | null
  file: string
  size: number
  md5: string
  sha256: string
  contentType: string
  receivedAt: string
  fields?: Record<string, string>
}

/** Where a box upload's stored fields keep the paramvalue of the command that started the call (devices/800hu/upload.ts). */
const PARAMVALUE_FIELD = 'telbridge.paramvalue'

/** A record from the recording store: the box's call record (not a Yantong `cdr` event, which has no sha256). */
export function isStoredRecord(raw: unknown): boolean {
  const r = raw as RecordingEventData
  return !!r && typeof r === 'object' && typeof r.callid === 'string' && typeof r.id === 'string' && typeof r.box === 'string' && typeof r.sha256 === 'string'
}

/**
 * A box's call record, stored (its upload): the hang-up (type 3, from the `cdr` event every stored
 * call has) and the recording (type 4, from the `recording` event, audio only). Both carry the same
 * memo: `cdrId` is the box's callid, as in findDialrecord, `cdrRecordFile` the path under
 * `/voip/record/`, `paramvalue` the memo of the command that started the call.
 */
export function recordingNotifications(raw: unknown, timeMs: number, event: 'hangup' | 'recording', zone?: string): Notification[] {
  if (!isStoredRecord(raw)) return []
  const r = raw as RecordingEventData
  const phone = typeof r.phone === 'string' ? r.phone : ''
  const time = (iso: string | null) => (iso && Number.isFinite(Date.parse(iso)) ? vendorTime(Date.parse(iso), zone) : null)
  const channel = r.channel === null || r.channel === undefined ? null : String(r.channel)
  const source = typeof r.source === 'string' ? r.source : `800hu-${r.box}`
  const audio = !(r.recorded === false && r.size === 0)
  const pv = r.fields?.[PARAMVALUE_FIELD]
  const memo: Record<string, unknown> = {
    cdrId: r.callid,
    cdrExtension: channel === null ? source : `${source}:${channel}`,
    cdrPhonePort: channel,
    cdrPhoneNum: phone,
    cdrLastPhoneNum: phone.replace(/^0+/, ''),
    cdrPeer: Number(peerOf(r.direction)) || null,
    cdrStartTime: time(r.startTime),
    cdrHangupTime: time(r.endTime),
    cdrTalktime: r.durationSeconds ?? 0,
    cdrRecordFile: audio ? r.file : '',
    cdrHangupReasonText: r.direction === 'missed' ? 'missed' : '',
    ...(typeof pv === 'string' ? { paramvalue: pv } : {}),
    // telbridge's own: the recording's id on the local API (/v1/recordings/:id/audio) and its checks
    recorded: audio,
    missed: r.direction === 'missed',
    box: r.box,
    ...(audio ? { recordingId: r.id, contentType: r.contentType, size: r.size, md5: r.md5, sha256: r.sha256 } : {}),
  }
  if (event === 'recording' && !audio) return []
  return [make(event, timeMs, source, channel, phone, peerOf(r.direction), memo)]
}
