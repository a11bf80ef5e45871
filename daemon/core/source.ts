import type { CallSink } from './calls/types.js'
import type { Readable } from 'node:stream'
import type { VendorAction } from './actions.js'
import type { FastifyInstance } from 'fastify'
import { actionNames, runAction, type ActionTable, type CallAction, type CallRequest, type CallResult } from './control.js'
import type { Logger } from './log.js'
import type { EventBus } from './events.js'
import type { ChannelTable } from './table.js'
import type { PopHub } from './pops.js'
import type { Metrics } from './metrics.js'
import { peerCutCounter } from './peer-writer.js'

/**
 * A source's link status. `failed`: several attempts in a row failed; it keeps retrying. `down`: a
 * polled vendor (HTTP) stopped answering; its channels are `unknown` until it answers again.
 */
export type SourceStatus = 'connecting' | 'connected' | 'reconnecting' | 'failed' | 'down' | 'stopped'

/** Sources in these states are not asked to act: nothing is sent, the caller gets a 503 and may retry. */
export const NOT_ASKED: readonly SourceStatus[] = ['down', 'failed', 'stopped']

/** The LQ OCX's connectStatus codes (seed 002 ch. 6): 6 connecting, 7 connected, 9 failed, other reconnecting. */
export const OCX_CODE: Record<SourceStatus, number> = { connecting: 6, connected: 7, reconnecting: 8, failed: 9, down: 9, stopped: 0 }

export interface SourceContext {
  log: Logger
  table: ChannelTable
  bus: EventBus
  pops: PopHub
  metrics: SourceMetrics
  /** default IANA zone for vendor local times */
  timeZone?: string
  /** the call log and agent registry: vendor pushes, call logs and agent lists go here (the daemon always gives it) */
  calls?: CallSink
}

export interface SourceMetrics {
  reconnects: { inc(labels: { source: string }): void; init(labels: { source: string }): void }
  framesInvalid: { inc(labels: { source: string; code: string }, n?: number): void }
  /** telbridge_peer_cut_total, shared with every other PeerWriter of the daemon */
  peerCuts: { inc(labels: { component: string; reason: string }): void }
}

export function sourceMetrics(m: Metrics): SourceMetrics {
  return {
    reconnects: m.counter('telbridge_source_connect_failures_total', 'Connection attempts that failed or links that were lost, by source', ['source']),
    framesInvalid: m.counter('telbridge_frames_invalid_total', 'Bytes skipped by a protocol decoder while resynchronising, by source and error code', ['source', 'code']),
    peerCuts: peerCutCounter(m),
  }
}

export interface SourceInfo {
  id: string
  type: string
  status: SourceStatus
  ocxCode: number
  /** ISO time the status took its value */
  since: string
  lastError: string | null
  /** failed attempts since the last working connection */
  failures: number
  channels: number
  /** what the source can do (call control comes with later adapters) */
  supports: string[]
  detail: Record<string, unknown>
}

export interface Source {
  readonly id: string
  readonly type: string
  readonly status: SourceStatus
  start(): void
  stop(): Promise<void>
  info(): SourceInfo
  /** vendor callbacks this source serves on the ingest listener (LQ custURL/popCRURL, Guoxin push) */
  ingestRoutes?(app: FastifyInstance): void
  /** a dial without agent or channel is this source's to place (an 800hu box takes its lowest idle port) */
  readonly dialPicksChannel?: boolean
  /**
   * Call control. Throw UnsupportedAction, VendorRefused or VendorTimeout (control.ts); the API maps
   * them to 422/502/504. A BaseSource dispatches through its action table; a source whose
   * `supports` lists no call action only observes.
   */
  control?(req: CallRequest): Promise<CallResult>
  /**
   * The vendor's own functions beyond call control (LQ vo_ids, Guoxin opts, Yantong actions), for
   * GET/POST /v1/sources/:id/actions (actions.ts).
   */
  vendorActions?(): readonly VendorAction[]
  /**
   * A recording the vendor holds, for GET /v1/sources/:id/recordings/:callid: `ref` is the vendor's
   * id of the call (Guoxin callid, Yantong uniqueid, LQ record id). Throw an ApiError 400 for a ref
   * of the wrong form, VendorTimeout when the vendor does not answer.
   */
  openRecording?(ref: string, o: { range?: string; signal?: AbortSignal; method?: 'GET' | 'HEAD' }): Promise<VendorRecording>
  /** queue state for GET /v1/queues (LQ getQueueStatus and the like) */
  queues?(): unknown[]
}

/** A vendor's answer to a recording download, to pass on (Range answered by the vendor). */
export interface VendorRecording {
  status: number
  headers: Readonly<Record<string, string | string[] | undefined>>
  /** the answer's body, to stream or destroy */
  body: Readable
  /** what answered, for messages: "FileDownServlet", "GetRecord" */
  service: string
}

/** Shared status bookkeeping: one setStatus() that records and publishes the change. */
export abstract class BaseSource implements Source {
  status: SourceStatus = 'stopped'
  protected statusSince = Date.now()
  protected lastError: string | null = null
  protected failures = 0
  abstract readonly type: string

  constructor(
    readonly id: string,
    protected readonly ctx: SourceContext,
  ) {}

  abstract start(): void
  abstract stop(): Promise<void>

  protected detail(): Record<string, unknown> {
    return {}
  }

  /**
   * Call control as a table of handlers, one per action the source can do (control.ts). Empty: the
   * source only observes. Built once, at the first use.
   */
  protected actions(): ActionTable {
    return {}
  }

  private actionCache: ActionTable | null = null

  private get actionTable(): ActionTable {
    return (this.actionCache ??= this.actions())
  }

  /** The call actions of the table, for `supports`. */
  protected callActions(): CallAction[] {
    return actionNames(this.actionTable)
  }

  /** Why an action the table lacks is not done (the 422's message), when there is more to say. */
  protected unsupportedWhy(_action: string): string | undefined {
    return undefined
  }

  /** What GET /v1/sources lists: pops, then the call actions (sources with more override this). */
  protected supports(): string[] {
    return ['pops', ...this.callActions()]
  }

  /** Dispatch through the table: no handler is UnsupportedAction; the handler's own errors pass through. */
  control(req: CallRequest): Promise<CallResult> {
    return runAction(this.id, this.actionTable, req, this.unsupportedWhy(String(req.action)))
  }

  protected setStatus(status: SourceStatus, error?: string): void {
    if (error !== undefined) this.lastError = error
    if (status === this.status) return
    const previous = this.status
    this.status = status
    this.statusSince = Date.now()
    this.ctx.bus.publish('source', { ...this.info(), previous })
  }

  info(): SourceInfo {
    return {
      id: this.id,
      type: this.type,
      status: this.status,
      ocxCode: OCX_CODE[this.status],
      since: new Date(this.statusSince).toISOString(),
      lastError: this.lastError,
      failures: this.failures,
      channels: this.ctx.table.countBySource(this.id),
      supports: this.supports(),
      detail: this.detail(),
    }
  }
}
