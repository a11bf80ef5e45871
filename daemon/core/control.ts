/**
 * Call control shared by every adapter: one request shape for `POST /v1/calls*` and
 * `POST /v1/agents/:agent/presence`, and the three ways an adapter can fail. The routes live in
 * calls-api.ts; each source that can act implements `Source.control()`.
 */

export const CALL_ACTIONS = ['dial', 'hangup', 'transfer', 'hold', 'resume', 'dtmf', 'monitor', 'barge', 'force-hangup', 'conference', 'presence'] as const
export type CallAction = (typeof CALL_ACTIONS)[number]

export interface CallRequest {
  action: CallAction
  /** source id the request is routed to */
  source: string
  /** agent / operator / extension / staff id, as the vendor names it */
  agent?: string
  /** channel on the source (LQ channel, 800hu RJ11 port) */
  channel?: string
  /** number to dial, or transfer/conference target number */
  phone?: string
  /** another agent (transfer, monitor, barge, conference) */
  target?: string
  /** DTMF digits */
  digits?: string
  /** presence: busy or idle */
  presence?: 'busy' | 'idle'
  /** vendor call id, where the vendor addresses calls by id */
  callId?: string
  /** free text passed to vendors that carry one (800hu memo, LQ userData) */
  memo?: string
}

export interface CallResult {
  /** the vendor's call id, when it returns one */
  callId?: string
  /** the vendor's answer, decoded (for debugging and vendor-specific fields) */
  vendor?: unknown
}

/** The source cannot do this action at all (HTTP 422). */
export class UnsupportedAction extends Error {
  override name = 'UnsupportedAction'
  constructor(
    readonly source: string,
    readonly action: string,
    why?: string,
  ) {
    super(`source ${source} does not support ${action}${why ? ` (${why})` : ''}`)
  }
}

/** The vendor answered and refused (HTTP 502 carrying the vendor's code and message). */
export class VendorRefused extends Error {
  override name = 'VendorRefused'
  constructor(
    readonly source: string,
    readonly vendorCode: string | number,
    readonly vendorMessage: string,
  ) {
    super(`source ${source}: vendor refused: ${vendorCode} ${vendorMessage}`)
  }
}

/** The vendor did not answer in time, or could not be reached (HTTP 504). */
export class VendorTimeout extends Error {
  override name = 'VendorTimeout'
  constructor(
    readonly source: string,
    readonly timeoutMs: number,
    readonly cause_?: string,
  ) {
    super(`source ${source}: no answer from the vendor within ${timeoutMs} ms${cause_ ? ` (${cause_})` : ''}`)
  }
}
