import type { RecordingRecord } from '../recordings/record.js'
import type { CallReport } from './types.js'

/** Where a box upload's stored fields keep the paramvalue of the command that started the call. */
const PARAMVALUE_FIELD = 'telbridge.paramvalue'

/**
 * A stored upload (the recording store's `recording`/`cdr` event) as a call report: the device's own
 * record of a finished call, with its recording (none for `recorded=0`).
 */
export function uploadReport(r: RecordingRecord): CallReport | null {
  if (!r || typeof r !== 'object' || typeof r.id !== 'string' || typeof r.sha256 !== 'string' || typeof r.source !== 'string') return null
  const ms = (iso: string | null) => (iso && Number.isFinite(Date.parse(iso)) ? Date.parse(iso) : null)
  const audio = !(r.recorded === false && r.size === 0)
  const started = ms(r.startTime)
  const ended = ms(r.endTime)
  const talk = r.durationSeconds
  const missed = r.direction === 'missed'
  const pv = r.fields?.[PARAMVALUE_FIELD]
  return {
    source: r.source,
    input: 'upload',
    channel: r.channel === null ? null : String(r.channel),
    phone: r.phone || null,
    // the box's `unkown` (未接) is "not answered" and says no direction: the live call's (status peer) stays
    direction: r.direction === 'inbound' ? 'inbound' : r.direction === 'outbound' ? 'outbound' : null,
    startedAt: started,
    endedAt: ended,
    answeredAt: !missed && ended !== null && talk !== null && talk > 0 ? ended - talk * 1000 : null,
    talkSeconds: missed ? 0 : talk,
    disposition: missed ? 'missed' : talk !== null && talk > 0 ? 'answered' : null,
    vendorIds: { callid: r.callid, ...(r.boxRecordId ? { boxRecordId: r.boxRecordId } : {}) },
    recordings: audio ? [{ kind: 'local', id: r.id, contentType: r.contentType, size: r.size }] : [],
    memo: typeof pv === 'string' && pv ? pv : null,
    final: true,
  }
}
