import type { CallResultState } from './codes.js'

/** `state` of EXTNUM_STATE (§14), named. The vendor spells idle `IDEL`; its own example sends `ONLINE`. */
export type ExtCallState = 'idle' | 'busy-outgoing' | 'busy-incoming' | 'offline' | 'unknown'

/** `presence` of EXTNUM_STATE: what the agent set by hand (or SET_EXT_PRESENCE_STATE). */
export type Presence = 'online' | 'offline' | 'reducing' | 'busy' | 'unknown'

/** One extension of EXTNUM_STATE. */
export interface ExtState {
  telNum: string
  userName: string | null
  /** telRegState: 1 true, 0 false, absent null */
  registered: boolean | null
  phoneType: string | null
  state: ExtCallState
  /** `state` as sent */
  stateRaw: string
  presence: Presence
  presenceRaw: string | null
  /** calls missed because the agent left the handset off (an idle-agent signal) */
  missingCallCount: number
  /** the customer's number while in a call; absent otherwise */
  remoteNum: string | null
}

/** One entry of an answer that was skipped, and why. */
export interface Skipped {
  index: number
  reason: string
}

export type CallLogState = 'failed' | 'received' | 'receiving' | 'unknown'

/** A call log entry (§21). Field names as the vendor's example sends them (lower-case first letter). */
export interface CallLog {
  id: number
  caller: string
  callee: string
  channel: string | null
  /** epoch ms */
  beginTime: number | null
  /** seconds */
  duration: number | null
  state: CallLogState
  stateRaw: string | null
  /** CENTREX_CALL, LOCAL_CALL, NATIONAL_CALL, OVERSEAS_CALL, UNKNOW_CALL, as sent */
  callType: string | null
  /** 1 very satisfied, 2 satisfied, 3 dissatisfied; the vendor sends "" for none */
  estimate: number | null
  record: string | null
  /** server path of the recording (FileDownServlet?filename=) */
  recordVoice: string | null
  cname: string | null
  servicetype: string | null
  manustate: string | null
  clickcallid: string | null
  fxonum: string | null
  productid: number | null
  /** the push `id` of this call, percent-decoded (the vendor's example still carries `%40`) */
  callid: string | null
  /** fields not named above, as sent (e.g. `_callTime`, `calleuid`) */
  extra: Record<string, unknown>
}

export type PushState = 'calling' | 'ringing' | 'canceled' | 'talking' | 'hungup'

/** One push callback (§4): the server GETs our URL with these parameters. */
export interface GuoxinPush {
  /** same for every notification of one call */
  id: string
  /** null when the caller's number is withheld (sent empty) */
  caller: string | null
  callee: string
  state: PushState
  /** reserved by the vendor (`incoming` in its example) */
  direction: string | null
  businessId: string | null
  /** businessId `maincall`: the original caller's leg; screen pops ignore it */
  mainCall: boolean
  /** the extension's group */
  group: string | null
}

/** GET_CAPTCHA_RESULT / IVR_TTS_CALL_RESULT. */
export interface CallTaskResult {
  code: number
  state: CallResultState | 'unknown'
  /** IVR_TTS_CALL_RESULT: the keys collected by the IVR (e.g. satisfact=8), without `state` */
  vars: Record<string, string>
  raw: string
}

/** IVR_TTS_CALL_MONITOR. */
export interface TtsMonitor {
  /** calls queued for an agent */
  queue: number
  /** calls playing */
  playcount: number
}

/** CALL_THIRD_GET_THIRD_STATE, from the status line alone. */
export type ThirdState = 'trying' | 'ringing' | 'answered' | 'busy'
