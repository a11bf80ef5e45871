/**
 * One call, whatever the vendor: the record `/v1/cdr` serves and `call.*` events carry. Built by the
 * call tracker (tracker.ts) from line-state changes, pops, vendor pushes, vendor call logs and
 * recording uploads; docs/calls.md says which input makes which field, per vendor.
 */

export const CALL_DIRECTIONS = ['inbound', 'outbound', 'internal'] as const
export type CallDirection = (typeof CALL_DIRECTIONS)[number]

/**
 * answered: someone talked. missed: an inbound call nobody answered. busy: the far end (or the agent)
 * was busy, as the vendor reports it. failed: an outbound call that never connected (未接通).
 * abandoned: the caller hung up while queued or ringing, as the vendor reports it. unknown: the call
 * was seen but not its end (source went down mid-call) and no vendor record told more.
 */
export const DISPOSITIONS = ['answered', 'missed', 'busy', 'failed', 'abandoned', 'unknown'] as const
export type Disposition = (typeof DISPOSITIONS)[number]

/** Which kind of input told the tracker about a call (a record lists every kind that made it). */
export const CALL_INPUTS = ['line', 'pop', 'push', 'log', 'upload'] as const
export type CallInput = (typeof CALL_INPUTS)[number]

/** A recording of the call: stored here (800hu upload), or held by the vendor and proxied through telbridge. */
export interface CallRecording {
  /** `local`: in telbridge's recording store; `vendor`: fetched from the vendor on demand */
  kind: 'local' | 'vendor'
  /** local: the recording id (`/v1/recordings/:id`); vendor: the reference the source's openRecording takes */
  id: string
  /** the source that serves a vendor recording */
  source?: string
  contentType?: string | null
  size?: number | null
}

/** The record as stored and served (times as epoch ms inside, ISO 8601 at the edges: callJson). */
export interface Call {
  id: string
  source: string
  /** the channel within the source, as the channel table names it (`/v1/channels` id is `<source>:<channel>`) */
  channel: string | null
  agent: string | null
  direction: CallDirection | null
  /** the other party's number */
  phone: string | null
  startedMs: number
  answeredMs: number | null
  endedMs: number | null
  ringSeconds: number | null
  talkSeconds: number | null
  disposition: Disposition
  recordings: CallRecording[]
  /** the vendors' ids for the call, by their own names (`callid`, `sn`, `uniqueid`, `callId`…) */
  vendorIds: Record<string, string>
  /** what the screen pop carried (LQ `da` pairs, 800hu `memo`): for CRMs */
  popData: Record<string, unknown> | null
  /** the memo/paramvalue of the command that started the call (800hu), or a vendor remark */
  memo: string | null
  inputs: CallInput[]
  updatedMs: number
}

/**
 * What a source (or the daemon's own listeners) tells the tracker about a call. Every field but
 * `source` and `input` is optional: the tracker merges what it is given into the call it belongs to
 * (found by a vendor id, else by source + channel/agent + phone + start time) or starts a new one.
 */
export interface CallReport {
  source: string
  input: CallInput
  channel?: string | null
  agent?: string | null
  direction?: CallDirection | null
  phone?: string | null
  /** epoch ms */
  startedAt?: number | null
  answeredAt?: number | null
  endedAt?: number | null
  ringSeconds?: number | null
  talkSeconds?: number | null
  disposition?: Disposition | null
  recordings?: readonly CallRecording[]
  vendorIds?: Readonly<Record<string, string>>
  popData?: Record<string, unknown> | null
  memo?: string | null
  /**
   * true (default for `log`, `push` with endedAt, and `upload`): the vendor's record of a finished
   * call; the record is written when it has an end. false: an update of a call still going on.
   */
  final?: boolean
}

/** What a source tells the agent registry: an agent (or extension, or staff id) it knows of. */
export interface AgentReport {
  source: string
  /** the vendor's agent id (工号, extension, oper) */
  agent: string
  name?: string | null
  /** channels (within the source) the agent sits on */
  channels?: readonly string[]
  /** the vendor's own presence, when it has one; else it comes from the agent's channels */
  presence?: 'idle' | 'busy' | 'away' | 'offline' | null
  /** logged in (签入) to the vendor's queue, when the vendor says */
  loggedIn?: boolean | null
  /** the vendor's own detail, kept as sent */
  vendor?: Record<string, unknown> | null
}

/** How sources reach the call log (SourceContext.calls). */
export interface CallSink {
  /** Merge a report; resolves with the call once what it changed is committed (null: not kept, e.g. no start time and nothing to merge into). */
  report(r: CallReport): Promise<Call | null>
  /** An agent seen (merged into the registry by source + agent). */
  agent(a: AgentReport): void
  /** An agent list that is complete for its source (e.g. LQ getOperStatus): agents not in it are offline. */
  agents?(source: string, list: readonly AgentReport[]): void
}

/** The JSON form of a call, as /v1/cdr and events show it. */
export function callJson(c: Call): Record<string, unknown> {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())
  return {
    id: c.id,
    source: c.source,
    channel: c.channel,
    channelId: c.channel === null ? null : `${c.source}:${c.channel}`,
    agent: c.agent,
    direction: c.direction,
    phone: c.phone,
    startedAt: iso(c.startedMs),
    answeredAt: iso(c.answeredMs),
    endedAt: iso(c.endedMs),
    ringSeconds: c.ringSeconds,
    talkSeconds: c.talkSeconds,
    disposition: c.disposition,
    recordings: c.recordings.map(recordingJson),
    vendorIds: c.vendorIds,
    popData: c.popData,
    memo: c.memo,
    inputs: c.inputs,
    updatedAt: iso(c.updatedMs),
  }
}

/** A call's recording with the URL its audio streams from on the local API. */
export function recordingJson(r: CallRecording): Record<string, unknown> {
  const url = r.kind === 'local' ? `/v1/recordings/${encodeURIComponent(r.id)}/audio` : `/v1/sources/${encodeURIComponent(r.source ?? '')}/recordings/${encodeURIComponent(r.id)}`
  return { kind: r.kind, id: r.id, ...(r.source !== undefined ? { source: r.source } : {}), contentType: r.contentType ?? null, size: r.size ?? null, url }
}
