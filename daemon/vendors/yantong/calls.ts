import type { CdrRecord } from '../../../protocols/yantong/index.js'
import type { AgentReport, CallReport, Disposition } from '../../core/calls/types.js'
import type { ExtenStatus } from '../../../protocols/yantong/index.js'
import type { ChannelState } from '../../core/table.js'

/**
 * Yantong's inputs as the call tracker takes them (docs/calls.md, "Yantong"). Pure: the source polls,
 * these convert. `startMs` is the record's `calldate` read in the vendor's zone (null: not a date).
 *
 * - GetCDRList is the vendor's own accounting: `duration_int` is ring + talk, `billsec_int` talk, so
 *   the answer is at start + (duration − billsec) and the end at start + duration.
 * - `NO ANSWER` is `missed` for an inbound call and `failed` for one we placed (未接通); `BUSY` is `busy`.
 * - The record's `uniqueid` is its recording's key (录音关联唯一id): a call with one that talked has a
 *   recording GetRecord finds. A call that never talked has nothing to record, whatever it carries.
 */
export function cdrReport(source: string, r: CdrRecord, startMs: number | null): CallReport {
  const direction = r.callType === 'inbound' ? 'inbound' : r.callType === 'unknown' ? null : 'outbound'
  const total = r.durationSeconds
  const talk = r.billSeconds ?? (r.disposition === 'ANSWERED' ? null : 0)
  const ring = total !== null && talk !== null ? Math.max(0, total - talk) : null
  const answered = r.disposition === 'ANSWERED' || (talk ?? 0) > 0
  const uniqueid = r.uniqueId && r.uniqueId.trim() ? r.uniqueId.trim() : null
  const vendorIds: Record<string, string> = { id: String(r.id) }
  if (uniqueid) vendorIds.uniqueid = uniqueid
  return {
    source,
    input: 'log',
    // the table's channel is the staff id (工号 = 分机号)
    channel: r.staffId ?? r.exten,
    agent: r.staffId ?? r.exten,
    direction,
    phone: (direction === 'inbound' ? r.src : r.dst) || null,
    startedAt: startMs,
    answeredAt: startMs !== null && answered && ring !== null ? startMs + ring * 1000 : null,
    endedAt: startMs !== null && total !== null ? startMs + total * 1000 : null,
    ringSeconds: ring,
    talkSeconds: talk,
    disposition: disposition(r.disposition, direction, answered),
    recordings: uniqueid && answered && (talk ?? 1) > 0 ? [{ kind: 'vendor', id: uniqueid, source }] : [],
    vendorIds,
    // codeid_1 carries the memo of a dial placed through telbridge (SendDial's tag comes back on the record)
    memo: r.codeid1 || null,
    final: true,
  }
}

function disposition(d: CdrRecord['disposition'], direction: 'inbound' | 'outbound' | null, answered: boolean): Disposition | null {
  if (answered) return 'answered'
  switch (d) {
    case 'NO ANSWER':
      return direction === 'outbound' ? 'failed' : direction === 'inbound' ? 'missed' : null
    case 'BUSY':
      return 'busy'
    case 'FAILED':
      return 'failed'
    default:
      return null
  }
}

/**
 * A staff member as the agent registry keeps it: ExtenStatus 18 小休 (break) is `away`, 19 正忙
 * (the agent set busy) `busy`, 4/-1 and "not logged in / not registered" (errno 5–8) `offline`.
 * In other states the presence comes from the line (null here).
 */
export function staffAgent(source: string, staffid: string, st: ExtenStatus | { errno: number } | null, name: string | null = null): AgentReport {
  const base: AgentReport = { source, agent: staffid, channels: [staffid], ...(name ? { name } : {}) }
  if (st === null) return base
  if ('errno' in st) return { ...base, presence: 'offline', loggedIn: st.errno === 5 || st.errno === 7 ? false : null }
  const m = mapExtenStatus(st.status)
  if (m.state === 'offline') return { ...base, presence: 'offline', loggedIn: null }
  return { ...base, presence: m.presence === 'break' ? 'away' : m.presence === 'busy' ? 'busy' : null, loggedIn: true }
}

/**
 * ExtenStatus code → table state. The seed's list is Asterisk's extension states (0 idle, 1 in use,
 * 2 busy, 4 unavailable, 8 ringing, 9 in use + ringing) plus the vendor's own 18 小休 (break) and
 * 19 正忙 (agent set busy), which describe the agent, not the line: the line is idle and the
 * presence is kept in `vendor.presence`. 9 is a second call ringing while one is up (call waiting):
 * the line stays `talking`, with `callWaiting`, so the call in progress is not hidden behind a ring.
 * 16 (Asterisk on hold) is not in the seed but is what the Asterisk underneath would send. Anything
 * else is `unknown`, never idle.
 */
export function mapExtenStatus(code: number): { state: ChannelState; presence: 'break' | 'busy' | null; callWaiting?: true } {
  switch (code) {
    case 0:
      return { state: 'idle', presence: null }
    case 1:
    case 2:
      return { state: 'talking', presence: null }
    case 8:
      return { state: 'ringing', presence: null }
    case 9:
      return { state: 'talking', presence: null, callWaiting: true }
    case 16:
      return { state: 'held', presence: null }
    case 18:
      return { state: 'idle', presence: 'break' }
    case 19:
      return { state: 'idle', presence: 'busy' }
    case -1:
    case 4:
      return { state: 'offline', presence: null }
    default:
      return { state: 'unknown', presence: null }
  }
}
