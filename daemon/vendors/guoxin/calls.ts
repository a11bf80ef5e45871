import type { CallLog, ExtState, GuoxinPush } from '../../../protocols/guoxin/index.js'
import type { AgentReport, CallReport } from '../../core/calls/types.js'

/**
 * Guoxin's inputs as the call tracker takes them (docs/calls.md, "Guoxin"). Pure: the source
 * decides which extension a push is about; these convert.
 *
 * The push `id` is the call's id everywhere: the table's `callId`, the pop's, the call log's `callid`
 * and the recording's key (FileDownServlet?callid=). It is reported as `callId`, the name the line
 * and the pop already give it, so all of them find one record by it.
 */

/** One extension's leg of a push. */
export interface PushLeg {
  ext: string
  direction: 'inbound' | 'outbound' | 'internal'
  /** the other party */
  phone: string | null
  /** report the push id (false for the callee leg of an extension-to-extension call: the caller's leg has it) */
  withCallId: boolean
  /** CLICK_TO_DIAL's answer, when telbridge placed the call */
  clickcallid?: string | null
}

/**
 * A push for one extension: calling/ringing say the call is on (no times: telbridge's line has them),
 * talking is the answer, hungup the end of a talk (answered), canceled the end of a ring
 * (missed inbound, failed outbound: 未接通).
 */
export function pushReport(source: string, p: GuoxinPush, leg: PushLeg, now: number): CallReport {
  const vendorIds: Record<string, string> = {}
  if (leg.withCallId) vendorIds.callId = p.id
  if (leg.clickcallid) vendorIds.clickcallid = leg.clickcallid
  const r: CallReport = { source, input: 'push', channel: leg.ext, agent: leg.ext, direction: leg.direction, phone: leg.phone, vendorIds, final: false }
  switch (p.state) {
    case 'talking':
      return { ...r, answeredAt: now }
    case 'hungup':
      return { ...r, endedAt: now, disposition: 'answered', final: true }
    case 'canceled':
      return { ...r, endedAt: now, disposition: leg.direction === 'outbound' ? 'failed' : 'missed', final: true }
    default:
      return r
  }
}

/**
 * A caller who reached the server for an extension that never rang (the maincall leg `calling` then
 * `canceled`, no leg of the extension): `busy` when the extension was in a call, else `missed`.
 */
export function unrungReport(source: string, p: GuoxinPush, extBusy: boolean, now: number): CallReport {
  return {
    source,
    input: 'push',
    channel: p.callee,
    agent: p.callee,
    direction: 'inbound',
    phone: p.caller,
    startedAt: now,
    endedAt: now,
    ringSeconds: 0,
    talkSeconds: 0,
    disposition: extBusy ? 'busy' : 'missed',
    vendorIds: { callId: p.id },
    final: true,
  }
}

/**
 * A §21 call-log entry. `beginTime` is the start and `duration` the talk time; the log has no ring
 * time, so a call only the log knows is taken as answered at its start. `STATE_RECEIVING` (still
 * talking) is no record yet: null. The extension is whichever party `isExtension` knows (the callee
 * first: an inbound call); `CENTREX_CALL` is internal.
 */
export function logReport(source: string, l: CallLog, isExtension: (n: string) => boolean): CallReport | null {
  if (l.state === 'receiving') return null
  const calleeExt = isExtension(l.callee)
  const callerExt = l.caller !== '' && isExtension(l.caller)
  const internal = l.callType === 'CENTREX_CALL' || (calleeExt && callerExt)
  const ext = calleeExt ? l.callee : callerExt ? l.caller : null
  const direction = internal ? 'internal' : calleeExt ? 'inbound' : callerExt ? 'outbound' : null
  const phone = calleeExt ? l.caller || null : callerExt ? l.callee || null : null
  const talked = l.state === 'received'
  const talk = talked ? Math.max(0, l.duration ?? 0) : 0
  const begin = l.beginTime
  const vendorIds: Record<string, string> = {}
  if (l.callid) vendorIds.callId = l.callid
  vendorIds.id = String(l.id)
  if (l.clickcallid) vendorIds.clickcallid = l.clickcallid
  return {
    source,
    input: 'log',
    channel: ext,
    agent: ext,
    direction,
    phone,
    startedAt: begin,
    answeredAt: begin !== null && talked ? begin : null,
    endedAt: begin !== null ? begin + talk * 1000 : null,
    talkSeconds: talk,
    // STATE_FAILED does not say why: a push's `busy` stays, else the tracker makes it missed (inbound) or failed (outbound)
    disposition: talked ? 'answered' : l.state === 'failed' && direction === 'internal' ? 'missed' : null,
    // the server says there is a recording by naming its file; FileDownServlet finds it by the callid
    recordings: l.recordVoice && l.callid ? [{ kind: 'vendor', id: l.callid, source }] : [],
    vendorIds,
    memo: l.record ?? l.manustate ?? null,
    final: true,
  }
}

/**
 * An EXTNUM_STATE extension as an agent: `presence` is what the agent set (online → from the line,
 * busy → busy, reducing 小休 → away), offline or unregistered → offline; logged in = registered.
 */
export function extAgent(source: string, s: ExtState): AgentReport {
  const offline = s.state === 'offline' || s.registered === false
  const presence = offline ? 'offline' : s.presence === 'busy' ? 'busy' : s.presence === 'reducing' ? 'away' : s.presence === 'offline' ? 'offline' : null
  return { source, agent: s.telNum, name: s.userName, channels: [s.telNum], presence, loggedIn: s.registered, vendor: { presence: s.presenceRaw, missingCallCount: s.missingCallCount } }
}
