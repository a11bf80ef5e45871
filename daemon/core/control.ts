import { ApiError } from './errors.js'

/**
 * Call control shared by every adapter: one request shape for `POST /v1/calls*` and
 * `POST /v1/agents/:agent/presence`, the three ways an adapter can fail, and the handler tables a
 * source declares its actions in (BaseSource.actions(); its control() dispatches through them). The
 * routes live in calls-api.ts.
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

// ---- handler tables ----------------------------------------------------------------------------

/** One call action of one source. */
export type Handler = (req: CallRequest) => Promise<CallResult>

/**
 * A source's call control: the actions it can do, each a handler. What `supports` lists and what
 * `control()` dispatches come from the same table, so they cannot drift apart. Key order is the
 * order `supports` lists them in.
 */
export type ActionTable = Partial<Record<CallAction, Handler>>

/** The actions of a table, in its key order. */
export function actionNames(table: ActionTable): CallAction[] {
  return (Object.keys(table) as CallAction[]).filter((a) => typeof table[a] === 'function')
}

/** Run the table's handler for `req.action`; no handler: UnsupportedAction (422), with `why` when given. */
export async function runAction(source: string, table: ActionTable, req: CallRequest, why?: string): Promise<CallResult> {
  // own keys only: an action named like an Object.prototype member is no handler
  const handler = Object.hasOwn(table, req.action) ? table[req.action] : undefined
  if (typeof handler !== 'function') throw new UnsupportedAction(source, String(req.action), why)
  return handler(req)
}

/** A 400 naming the field. */
export function badField(field: string, message: string): ApiError {
  return new ApiError('BAD_REQUEST', message).with({ field })
}

/** The value of a field an action needs; absent or empty: a 400 naming the field with `message`. */
export function need(v: string | undefined, field: string, message: string): string {
  if (v === undefined || v === '') throw badField(field, message)
  return v
}
