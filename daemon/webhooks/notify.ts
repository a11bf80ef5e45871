import { randomUUID } from 'node:crypto'
import { EVENT_TYPE, type WebhookEvent } from './config.js'
import { vendorTime as zoned } from '../../protocols/800hu/time.js'

/**
 * What a webhook receives, built from bus events. 800hu format: the seed's push fields (003
 * §2.10.4: `type`, `peer`, `phone`, `memo`, with `memo` the call record as JSON text using the
 * vendor's `cdr…` keys) plus telbridge's own `id`, `event`, `source`, `channel` and `time`.
 * telbridge format: the bus event's type and data as they are. Either way `id` is unique per
 * notification (receivers dedupe with it: delivery is at-least-once). Pure apart from the clock and random ids.
 */

export interface Notification {
  id: string
  /** 800hu format: call, answer, hangup, recording; telbridge format: the bus event type */
  event: string
  /** when it happened, ISO 8601 */
  time: string
  source: string
  channel: string | null
  /** 800hu format: exactly what goes on the wire, as strings (memo: JSON text) */
  fields?: { type: string; peer: string; phone: string; memo: string }
  /** telbridge format: the event's data, as on /v1/events */
  data?: unknown
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

/** A telbridge-format notification: the bus event as it is, under a fresh id. */
export function eventNotification(type: string, data: unknown, timeMs: number): Notification {
  const d = (data ?? {}) as Record<string, unknown>
  return { id: randomUUID(), event: type, time: new Date(timeMs).toISOString(), source: eventSource(type, d), channel: typeof d.channel === 'string' ? d.channel : null, data }
}

/** Which source an event is about (the `sources` filter): `data.source`, a `source` event's `id`, a box recording's box. */
export function eventSource(type: string, d: Record<string, unknown>): string {
  if (type === 'source') return typeof d.id === 'string' ? d.id : ''
  if (typeof d.source === 'string') return d.source
  if (type === 'recording' && typeof d.box === 'string') return `800hu-${d.box}`
  return ''
}

/** callJson (core/calls/types.ts), the fields used here. */
interface CallEventData {
  id: string
  source: string
  channel: string | null
  channelId: string | null
  direction: string | null
  phone: string | null
  startedAt: string
  answeredAt: string | null
  endedAt: string | null
  ringSeconds: number | null
  talkSeconds: number | null
  disposition: string
  recordings: { kind: string; id: string; contentType?: string | null; size?: number | null }[]
  vendorIds: Record<string, string>
  memo: string | null
  inputs: string[]
}

function isCall(raw: unknown): raw is CallEventData {
  const c = raw as CallEventData
  return !!c && typeof c === 'object' && typeof c.id === 'string' && typeof c.source === 'string' && typeof c.startedAt === 'string' && Array.isArray(c.inputs) && Array.isArray(c.recordings)
}

/** A set that forgets its oldest members past `max`: "pushed once" memory that cannot grow without bound. */
class RecentSet {
  private readonly items = new Set<string>()
  constructor(private readonly max: number) {}
  has(k: string): boolean {
    return this.items.has(k)
  }
  add(k: string): void {
    this.items.add(k)
    if (this.items.size > this.max) this.items.delete(this.items.values().next().value!)
  }
}

/** How many calls' "hung up / recording pushed" the push remembers, and how many box uploads it holds for their call's event. */
const REMEMBER = 20_000
const UPLOADS_KEPT = 5_000

/**
 * The 800hu-style push of the call record (seed 003 §2.10.4): type 1 from `call.started`, 2 from
 * `call.answered`, 3 (hang-up) and 4 (recording) from `call.ended`/`call.updated`; `cdrId` is the
 * call's id in the call log (`GET /v1/cdr/:id`), the same in every push of one call. A box line
 * (channel `vendor.cdr` = `upload`) hangs up with the box's upload: its type 3 waits for the call
 * record that has the upload, whose stored fields (file, times, callid) it carries, as type 4 does.
 * Each call is hung up once and each recording pushed once, whatever number of updates follow.
 * A call whose end is unknown (line offline mid-call) gets no hang-up until a record gives its end.
 */
export class CallPushes {
  /** channel ids whose calls the box uploads (vendor.cdr = upload) */
  private readonly uploadLines = new Set<string>()
  /** `<source>|<callid>` → the box's stored uploads, published just before the tracker merges them */
  private readonly uploads = new Map<string, RecordingEventData[]>()
  private readonly hungUp = new RecentSet(REMEMBER)
  private readonly recorded = new RecentSet(REMEMBER)

  constructor(private readonly zone?: string) {}

  onChannel(raw: unknown): void {
    const d = raw as ChannelEventData
    if (!d || typeof d.id !== 'string') return
    if (d.changed?.includes('removed')) this.uploadLines.delete(d.id)
    else if (d.vendor?.cdr === 'upload') this.uploadLines.add(d.id)
  }

  /** A stored box upload (`recording` or `cdr` event): kept until its call's event comes. */
  onStored(raw: unknown): void {
    if (!isStoredRecord(raw)) return
    const r = raw as RecordingEventData
    const key = `${r.source ?? `800hu-${r.box}`}|${r.callid}`
    const list = this.uploads.get(key)
    if (list) {
      if (!list.some((x) => x.id === r.id)) list.push(r)
      return
    }
    this.uploads.set(key, [r])
    if (this.uploads.size > UPLOADS_KEPT) this.uploads.delete(this.uploads.keys().next().value!)
  }

  onCall(type: string, raw: unknown, timeMs: number): Notification[] {
    if (!isCall(raw)) return []
    const c = raw
    if (type === 'call.started') return [this.note('call', c, timeMs, null)]
    if (type === 'call.answered') return [this.note('answer', c, timeMs, null)]
    if ((type !== 'call.ended' && type !== 'call.updated') || c.endedAt === null) return []
    const uploaded = c.inputs.includes('upload')
    // a box line's call is hung up by its upload (the box's record of it), not by the line going idle
    if (!uploaded && c.channelId !== null && this.uploadLines.has(c.channelId)) return []
    const stored = uploaded && c.vendorIds.callid ? (this.uploads.get(`${c.source}|${c.vendorIds.callid}`) ?? []) : []
    const out: Notification[] = []
    if (!this.hungUp.has(c.id)) {
      this.hungUp.add(c.id)
      out.push(this.note('hangup', c, timeMs, stored.find((r) => r.recorded !== false) ?? stored[0] ?? null))
    }
    for (const rec of c.recordings) {
      if (rec.kind !== 'local' || this.recorded.has(rec.id)) continue
      this.recorded.add(rec.id)
      out.push(this.note('recording', c, timeMs, stored.find((r) => r.id === rec.id) ?? null, rec))
    }
    return out
  }

  private note(event: WebhookEvent, c: CallEventData, timeMs: number, up: RecordingEventData | null, rec?: CallEventData['recordings'][number]): Notification {
    const phone = c.phone ?? ''
    const ms = (iso: string | null) => (iso && Number.isFinite(Date.parse(iso)) ? Date.parse(iso) : null)
    const time = (iso: string | null) => {
      const t = ms(iso)
      return t === null ? null : vendorTime(t, this.zone)
    }
    const memo: Record<string, unknown> = {
      cdrId: c.id,
      // one form everywhere (pushes, findDialrecord): the channel id `<source>:<channel>`
      cdrExtension: c.channelId ?? c.source,
      cdrPhonePort: c.channel,
      cdrPhoneNum: phone,
      cdrLastPhoneNum: phone.replace(/^0+/, ''),
      cdrPeer: Number(peerOf(c.direction)) || null,
      // a box's own record keeps the box's times, as findDialrecord shows them
      cdrStartTime: up ? time(up.startTime) : time(c.startedAt),
    }
    if (c.memo !== null) memo.paramvalue = c.memo
    if (c.answeredAt !== null && !up) memo.cdrAnswerTime = time(c.answeredAt)
    if (event === 'hangup' || event === 'recording') {
      memo.cdrHangupTime = up ? time(up.endTime) : time(c.endedAt)
      memo.cdrTalktime = up ? (up.durationSeconds ?? 0) : (c.talkSeconds ?? 0)
      if (!up && event === 'hangup') memo.cdrRingTime = c.ringSeconds ?? 0
      if (c.disposition !== 'answered' && !up) memo.cdrHangupReasonText = c.disposition
    }
    if (up) {
      const audio = !(up.recorded === false && up.size === 0)
      const pv = up.fields?.[PARAMVALUE_FIELD]
      Object.assign(memo, {
        cdrRecordFile: audio ? up.file : '',
        cdrHangupReasonText: up.direction === 'missed' ? 'missed' : '',
        ...(typeof pv === 'string' && memo.paramvalue === undefined ? { paramvalue: pv } : {}),
        // telbridge's own: the box's callid (findDialrecord's cdrId), the recording's id on the local API (/v1/recordings/:id/audio) and its checks
        callid: up.callid,
        recorded: audio,
        missed: up.direction === 'missed',
        box: up.box,
        ...(audio ? { recordingId: up.id, contentType: up.contentType, size: up.size, md5: up.md5, sha256: up.sha256 } : {}),
      })
    } else if (rec) Object.assign(memo, { recordingId: rec.id, contentType: rec.contentType ?? null, size: rec.size ?? null })
    return make(event, timeMs, c.source, c.channel, phone, peerOf(c.direction), memo)
  }
}

/** The shape of a `channel` bus event (daemon.ts: entryJson + changed + previousState), the fields used here. */
interface ChannelEventData {
  id: string
  changed?: string[]
  vendor?: Record<string, unknown> | null
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
