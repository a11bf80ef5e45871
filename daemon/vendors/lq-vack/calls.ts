import type { CustCall, OperStatus } from '../../../protocols/lq-vack/index.js'
import { lqTimeToIso } from '../../../protocols/lq-pop/index.js'
import type { AgentReport, CallDirection, CallReport, Disposition } from '../../core/calls/types.js'

/**
 * LQ's call records and agent states as the call tracker's inputs (seed 000 getCustCall and
 * getOperStatus). Pure: the source polls, these convert.
 */

/** getCustCall `dir`: 1 外部呼入, 7 IP接入, 12 传真接收 come in; 2 手工呼出, 3 网站回呼, 4 自动呼出, 8 批量外呼, 11 传真发送 go out. */
export function custCallDirection(dir: number | null): CallDirection | null {
  if (dir === 1 || dir === 7 || dir === 12) return 'inbound'
  if (dir === 2 || dir === 3 || dir === 4 || dir === 8 || dir === 11) return 'outbound'
  return null
}

/**
 * getCustCall `vt` (three numberings, by product and version; only 0 and 2 mean the same in all):
 * LCall 0 未通话, 2 留言, 6 通话, 7 外转未通话, 8 外转通话; LOffice 4 录音, 5 未录音; LCall before
 * 5.0.4.5: 0 未通话, 1 通话未录音, 2 留言, 3 通话录音. A voice message (留言) is a call nobody took;
 * LOffice's 5 says nothing of an answer (null: line state or the direction decides).
 */
export function custCallTalked(vt: number | null): boolean | null {
  switch (vt) {
    case 1:
    case 3:
    case 4:
    case 6:
    case 8:
      return true
    case 0:
    case 2:
    case 7:
      return false
    default:
      return null
  }
}

/** A record has a recording when it names a file, unless its type says nothing was recorded (1 通话未录音, 5 未录音) or talked (0, 7). */
export function custCallRecorded(c: CustCall): boolean {
  if (c.file === null || c.file.trim() === '') return false
  return c.voiceType !== 0 && c.voiceType !== 1 && c.voiceType !== 5 && c.voiceType !== 7
}

const DATE = /^(\d{4})-(\d{1,2})-(\d{1,2})$/
const TIME = /^(\d{1,2}):(\d{2}):(\d{2})$/

/** `dt` (2008-01-01) + `tms`/`tme` (13:00:00) in the server's zone → epoch ms; null when either is missing or malformed. */
export function custCallTime(date: string | null, time: string | null, zone: string): number | null {
  const d = date === null ? null : DATE.exec(date.trim())
  const t = time === null ? null : TIME.exec(time.trim())
  if (!d || !t) return null
  const y = Number(d[1])
  if (y < 2000 || y > 2099) return null
  const p = (s: string) => s.padStart(2, '0')
  const iso = lqTimeToIso(String(y - 2000).padStart(2, '0') + p(d[2]!) + p(d[3]!) + p(t[1]!) + t[2]! + t[3]!, zone)
  return iso === null ? null : Date.parse(iso)
}

/**
 * One getCustCall row → the vendor's record of a finished call. Its `id` (来电时间+通道号, the id
 * the pop carried) and `sn` (呼叫流水号) go into vendorIds as `callId` and `sn`, the names the pop's
 * own ids have, so a pop and its log row find each other; the id (else `sn:<sn>`) is also the
 * recording ref `openRecording` takes (on `recordingSource`, the lq-vack source, also when the call is
 * another source's). Null when the row has neither id nor sn, or no start time.
 */
export function custCallReport(source: string, c: CustCall, zone: string, recordingSource = source): CallReport | null {
  if (c.id === null && c.sn === null) return null
  const started = custCallTime(c.date, c.startTime, zone)
  if (started === null) return null
  let ended = custCallTime(c.date, c.endTime, zone)
  // a call over midnight: tme is on the next day
  if (ended !== null && ended < started) ended += 86_400_000
  const direction = custCallDirection(c.direction)
  const talked = custCallTalked(c.voiceType)
  let disposition: Disposition | null = null
  if (talked === true) disposition = 'answered'
  else if (talked === false) disposition = direction === 'outbound' ? 'failed' : 'missed'
  const talk = ended === null ? null : Math.max(0, Math.round((ended - started) / 1000))
  const ref = c.id ?? `sn:${c.sn!}`
  return {
    source,
    input: 'log',
    channel: c.ch === null || c.ch < 0 ? null : String(c.ch),
    agent: c.oper,
    direction,
    phone: c.phone,
    startedAt: started,
    // LQ logs no ring time: tms..tme is the call as the server counts it
    answeredAt: talked === true ? started : null,
    endedAt: ended,
    talkSeconds: talked === true ? talk : talked === false ? 0 : null,
    disposition,
    vendorIds: { ...(c.id !== null ? { callId: c.id } : {}), ...(c.sn !== null ? { sn: c.sn } : {}) },
    recordings: custCallRecorded(c) ? [{ kind: 'vendor', id: ref, source: recordingSource }] : [],
    memo: c.memo,
    final: true,
  }
}

/**
 * A getOperStatus agent → the agent registry. Presence: not logged in (ifLoginC 0) or a channel not
 * enabled (inUseC < 0) or down (statusC 8 断线, 11 不可用) → offline; in use (inUseC > 0) or off-hook,
 * ringing, talking, dialing (statusC 1–7, 9, 12) → busy; 示忙 (setBusyC) → away; else idle.
 */
export function operAgent(source: string, o: OperStatus): AgentReport {
  let presence: AgentReport['presence']
  if (o.loggedIn === false || (o.inUse !== null && o.inUse < 0) || o.status === 8 || o.status === 11) presence = 'offline'
  else if ((o.inUse !== null && o.inUse > 0) || (o.status !== null && o.status >= 1 && o.status <= 12 && o.status !== 10)) presence = 'busy'
  else if (o.busy === true) presence = 'away'
  else if (o.inUse === null && o.status === null) presence = null
  else presence = 'idle'
  return {
    source,
    agent: o.oper,
    channels: o.ch === null ? [] : [String(o.ch)],
    presence,
    loggedIn: o.loggedIn,
    vendor: { ch: o.ch, inUse: o.inUse, status: o.status, phone: o.phone, busy: o.busy },
  }
}

/**
 * Which channel's call an agent channel (内线) is a leg of, so one call is one record: the outside
 * line it is connected to (peerCh), or, for an internal call between two agent channels, the
 * lower-numbered end. `true`: busy but with no peer named (LCall's agent phone off-hook), a leg of
 * whichever line carries the call; null: a call of its own (or idle).
 */
export function agentLeg(ch: number, peerCh: number | null, peerKind: string | undefined, active: boolean): string | true | null {
  if (!active) return null
  if (peerCh === null || peerCh < 0) return true
  if (peerKind === 'agent') return peerCh < ch ? String(peerCh) : null
  return String(peerCh)
}
