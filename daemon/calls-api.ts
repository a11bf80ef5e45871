import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { CALL_ACTIONS, UnsupportedAction, VendorRefused, VendorTimeout, type CallAction, type CallRequest, type CallResult } from './core/control.js'
import { ApiError, fieldError } from './core/errors.js'
import type { EventBus } from './core/events.js'
import { controlError, type RoutePlugin } from './core/http.js'
import { jsonResponse } from './core/route-schema.js'
import type { Logger } from './core/log.js'
import { NOT_ASKED, type Source, type SourceInfo } from './core/source.js'

/**
 * One control API over every adapter: `POST /v1/calls` (dial) and `/v1/calls/<action>`,
 * `POST /v1/agents/:agent/presence`, and `GET /v1/queues`. Bodies are checked strictly here (an
 * unknown key or a bad value is a 400 naming the field), then the request goes to the source that
 * owns it; the source's own errors (UnsupportedAction, VendorRefused, VendorTimeout) become 422 / 502
 * / 504. Every routed request and its outcome is logged and published as a `call` event.
 */

/** Used when a source does not say how long it waits for its vendor (`detail.timeoutMs`). */
export const DEFAULT_TIMEOUT_MS = 5000
/** What the route waits beyond the source's own timeout before answering 504 itself. */
export const TIMEOUT_MARGIN_MS = 1000

type Field = 'source' | 'agent' | 'channel' | 'phone' | 'target' | 'digits' | 'callId' | 'memo' | 'presence'

/** Per action: the fields it takes, and the groups of which at least one must be given. */
const SHAPES: Record<Exclude<CallAction, 'presence'>, { fields: Field[]; need: Field[][] }> = {
  dial: {
    fields: ['agent', 'channel', 'phone', 'target', 'memo'],
    need: [
      ['agent', 'channel'],
      ['phone', 'target'],
    ],
  },
  hangup: { fields: ['agent', 'channel', 'callId'], need: [['agent', 'channel', 'callId']] },
  transfer: {
    fields: ['agent', 'channel', 'callId', 'phone', 'target'],
    need: [
      ['agent', 'channel', 'callId'],
      ['phone', 'target'],
    ],
  },
  hold: { fields: ['agent', 'channel', 'callId', 'phone', 'target'], need: [['agent', 'channel', 'callId']] },
  resume: { fields: ['agent', 'channel', 'callId'], need: [['agent', 'channel', 'callId']] },
  dtmf: { fields: ['agent', 'channel', 'callId', 'digits'], need: [['agent', 'channel', 'callId'], ['digits']] },
  monitor: { fields: ['agent', 'channel', 'target'], need: [['agent'], ['target', 'channel']] },
  barge: { fields: ['agent', 'channel', 'target'], need: [['agent'], ['target', 'channel']] },
  'force-hangup': { fields: ['agent', 'channel', 'target', 'callId'], need: [['target', 'channel', 'callId']] },
  conference: {
    fields: ['agent', 'channel', 'callId', 'phone', 'target'],
    need: [
      ['agent', 'channel', 'callId'],
      ['phone', 'target'],
    ],
  },
}

const ID_RE = /^[^\s\x00-\x1f\x7f]{1,64}$/
const SOURCE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
const FIELD_RULES: Record<Exclude<Field, 'source' | 'presence'>, { re: RegExp; text: string; numeric?: boolean }> = {
  agent: { re: ID_RE, text: 'an agent id (1–64 characters, no spaces)', numeric: true },
  target: { re: ID_RE, text: 'an agent id (1–64 characters, no spaces)', numeric: true },
  channel: { re: ID_RE, text: 'a channel (1–64 characters, no spaces)', numeric: true },
  phone: { re: /^\+?[0-9*#]{1,32}$/, text: 'a phone number as a string (1–32 digits, * or #, optionally a leading +)' },
  digits: { re: /^[0-9*#A-Da-d]{1,64}$/, text: 'DTMF digits (1–64 of 0-9 * # A-D)' },
  callId: { re: /^[^\x00-\x1f\x7f]{1,128}$/, text: 'a call id (1–128 characters)' },
  memo: { re: /^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]{0,512}$/, text: 'text of at most 512 characters' },
}

function bodyObject(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) throw fieldError('body', 'a JSON object', body ?? undefined)
  return body as Record<string, unknown>
}

function sourceField(o: Record<string, unknown>): string {
  const v = o.source
  if (typeof v !== 'string' || !SOURCE_RE.test(v)) throw fieldError('source', 'a source id (a string)', v)
  return v
}

/** Body → CallRequest for one action; every message names the field. */
export function parseCallBody(action: Exclude<CallAction, 'presence'>, body: unknown, opts: { channelOptional?: boolean } = {}): CallRequest {
  const o = bodyObject(body)
  const shape = SHAPES[action]
  for (const k of Object.keys(o)) {
    if (k !== 'source' && !shape.fields.includes(k as Field)) throw fieldError(k, `no such field for ${action} (known: source, ${shape.fields.join(', ')})`)
  }
  const req: CallRequest = { action, source: sourceField(o) }
  for (const f of shape.fields) {
    let v = o[f]
    if (v === undefined) continue
    const rule = FIELD_RULES[f as keyof typeof FIELD_RULES]
    // a memo may be an object (800hu's {"functionname","paramvalue"}): carried as its JSON text
    if (f === 'memo' && typeof v === 'object' && v !== null && !Array.isArray(v)) v = JSON.stringify(v)
    let s: string
    if (typeof v === 'string') s = v
    else if (rule.numeric && typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) s = String(v)
    else throw fieldError(f, rule.text, v)
    if (!rule.re.test(s)) throw fieldError(f, rule.text, v)
    ;(req as unknown as Record<string, string>)[f] = s
  }
  for (const group of shape.need) {
    // a source that picks a line itself (an 800hu box: the lowest idle port) dials without agent or channel
    if (opts.channelOptional && group.includes('channel')) continue
    if (!group.some((f) => (req as unknown as Record<string, unknown>)[f] !== undefined)) {
      throw fieldError(group[0]!, group.length > 1 ? `one of ${group.join(', ')} for ${action}` : `a value for ${action}`)
    }
  }
  return req
}

export function parsePresenceBody(agent: string, body: unknown): CallRequest {
  if (!ID_RE.test(agent)) throw fieldError('agent', FIELD_RULES.agent.text, agent)
  const o = bodyObject(body)
  for (const k of Object.keys(o)) if (k !== 'source' && k !== 'presence') throw fieldError(k, 'no such field for presence (known: source, presence)')
  const source = sourceField(o)
  if (o.presence !== 'busy' && o.presence !== 'idle') throw fieldError('presence', '"busy" or "idle"', o.presence)
  return { action: 'presence', source, agent, presence: o.presence }
}

// The route schemas say what parseCallBody checks, so fastify refuses a wrong type or an unknown
// field first (same 400, same field); the groups "one of agent, channel" stay with parseCallBody.

const SOURCE_FIELD = { type: 'string', pattern: SOURCE_RE.source, description: 'a source id (a string)' } as const

function fieldSchema(f: Exclude<Field, 'source' | 'presence'>): Record<string, unknown> {
  const r = FIELD_RULES[f]
  // agent, target and channel may be given as a whole number too
  if (f === 'memo') return { type: ['string', 'object'], description: `${r.text}, or an object (carried as its JSON text, same limit)` }
  return r.numeric
    ? { type: ['string', 'integer'], pattern: r.re.source, minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: r.text }
    : { type: 'string', pattern: r.re.source, description: r.text }
}

function callBodySchema(action: Exclude<CallAction, 'presence'>): Record<string, unknown> {
  const shape = SHAPES[action]
  return {
    type: 'object',
    description: 'a JSON object',
    required: ['source'],
    additionalProperties: false,
    properties: { source: SOURCE_FIELD, ...Object.fromEntries(shape.fields.map((f) => [f, fieldSchema(f as Exclude<Field, 'source' | 'presence'>)])) },
  }
}

const presenceParams = { type: 'object', required: ['agent'], properties: { agent: { type: 'string', pattern: ID_RE.source, description: FIELD_RULES.agent.text } } } as const
const presenceBodySchema = {
  type: 'object',
  description: 'a JSON object',
  required: ['source', 'presence'],
  additionalProperties: false,
  properties: { source: SOURCE_FIELD, presence: { type: 'string', enum: ['busy', 'idle'], description: '"busy" or "idle"' } },
} as const
const acceptedSchema = {
  type: 'object',
  properties: {
    accepted: { type: 'boolean' },
    requestId: { type: 'string', description: 'names the request in the log and the `call` events' },
    source: { type: 'string' },
    action: { type: 'string' },
    callId: { type: 'string' },
    vendor: { description: "the vendor's answer" },
  },
} as const

export interface CallDeps {
  sources: ReadonlyMap<string, Source>
  log: Logger
  /** publishes `call` events; optional so the route also works without a bus */
  bus?: EventBus
}

/** What an outcome is called in the `call` event and the log. */
type Outcome = 'accepted' | 'not-found' | 'unsupported' | 'source-down' | 'refused' | 'timeout' | 'invalid' | 'failed'

function outcomeOf(err: unknown): Outcome {
  if (err instanceof UnsupportedAction) return 'unsupported'
  if (err instanceof VendorRefused) return 'refused'
  if (err instanceof VendorTimeout) return 'timeout'
  if (err instanceof ApiError) return err.code === 'NOT_FOUND' ? 'not-found' : err.code === 'SOURCE_DOWN' ? 'source-down' : err.code === 'BAD_REQUEST' ? 'invalid' : 'failed'
  return 'failed'
}

function sourceTimeout(info: SourceInfo): number {
  const t = (info.detail as { timeoutMs?: unknown }).timeoutMs
  return typeof t === 'number' && t > 0 ? t : DEFAULT_TIMEOUT_MS
}

/** Route one request to its source, with the guard that the route never waits past the source's timeout. */
export async function routeCall(deps: CallDeps, req: CallRequest): Promise<CallResult> {
  const s = deps.sources.get(req.source)
  if (!s) throw new ApiError('NOT_FOUND', `source ${req.source}`).with({ source: req.source })
  const info = s.info()
  // every BaseSource has control(); one whose supports name no call action only observes
  if (!s.control || !info.supports.some((a) => CONTROL_NAMES.has(a))) throw new UnsupportedAction(s.id, req.action, `a ${s.type} source only observes`)
  if (!info.supports.includes(req.action)) throw new UnsupportedAction(s.id, req.action, `${s.type} supports ${info.supports.filter((a) => CONTROL_NAMES.has(a)).join(', ') || 'no call control'}`)
  if (NOT_ASKED.includes(s.status)) {
    throw new ApiError('SOURCE_DOWN', `source ${s.id} is ${s.status}${info.lastError ? ` (${info.lastError})` : ''}; nothing was sent`).with({ source: s.id, status: s.status })
  }
  const limit = sourceTimeout(info) + TIMEOUT_MARGIN_MS
  let timer: NodeJS.Timeout | undefined
  const work = s.control(req)
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new VendorTimeout(s.id, limit, 'the adapter did not finish'))
      // the caller was told 504; what the vendor did after all still belongs in the log
      work.then(
        () => deps.log.warn({ source: s.id, action: req.action }, 'call control finished after the route gave up: it was accepted'),
        (err: unknown) => deps.log.warn({ source: s.id, action: req.action, err: (err as Error).message }, 'call control failed after the route gave up'),
      )
    }, limit)
  })
  try {
    return await Promise.race([work, guard])
  } finally {
    clearTimeout(timer)
  }
}

const CONTROL_NAMES = new Set<string>(CALL_ACTIONS)

export function callRoutes(deps: CallDeps): RoutePlugin {
  const { log, bus } = deps

  const run = async (req: CallRequest): Promise<Record<string, unknown>> => {
    const requestId = randomUUID()
    const t0 = performance.now()
    const summary = { requestId, action: req.action, source: req.source, agent: req.agent, channel: req.channel, target: req.target, phone: req.phone, callId: req.callId, presence: req.presence }
    bus?.publish('call', { ...summary, phase: 'requested' })
    try {
      const res = await routeCall(deps, req)
      const ms = Math.round(performance.now() - t0)
      log.info({ ...summary, ms, callId: res.callId }, 'call control accepted')
      bus?.publish('call', { ...summary, phase: 'accepted', ms, ...(res.callId ? { callId: res.callId } : {}) })
      return { accepted: true, requestId, source: req.source, action: req.action, ...(res.callId ? { callId: res.callId } : {}), ...(res.vendor !== undefined ? { vendor: res.vendor } : {}) }
    } catch (err) {
      const ms = Math.round(performance.now() - t0)
      const outcome = outcomeOf(err)
      const api = err instanceof ApiError ? err : controlError(err)
      const error = api ? { code: api.code, message: api.message, ...api.extra } : { code: 'INTERNAL', message: (err as Error).message }
      if (outcome === 'failed') log.error({ ...summary, ms, err }, 'call control failed')
      else log.warn({ ...summary, ms, outcome, error }, 'call control not done')
      bus?.publish('call', { ...summary, phase: outcome, ms, error })
      if (api) api.with({ ...api.extra, requestId })
      throw api ?? err
    }
  }

  return (app: FastifyInstance) => {
    app.post(
      '/v1/calls',
      { schema: { summary: 'Dial: the agent (or channel) calls phone, or the extension target', tags: ['calls'], body: callBodySchema('dial'), response: jsonResponse(acceptedSchema, 202) } },
      async (request, reply) => {
        reply.code(202)
        const src = (request.body as { source?: unknown } | null)?.source
        const picks = typeof src === 'string' && deps.sources.get(src)?.dialPicksChannel === true
        return run(parseCallBody('dial', request.body, { channelOptional: picks }))
      },
    )
    for (const action of Object.keys(SHAPES) as (keyof typeof SHAPES)[]) {
      if (action === 'dial') continue
      app.post(
        `/v1/calls/${action}`,
        { schema: { summary: `${action[0]!.toUpperCase()}${action.slice(1)} a call`, tags: ['calls'], body: callBodySchema(action), response: jsonResponse(acceptedSchema, 202) } },
        async (request, reply) => {
          reply.code(202)
          return run(parseCallBody(action, request.body))
        },
      )
    }
    app.post<{ Params: { agent: string } }>(
      '/v1/agents/:agent/presence',
      { schema: { summary: 'Set an agent busy or idle', tags: ['calls'], params: presenceParams, body: presenceBodySchema, response: jsonResponse(acceptedSchema, 202) } },
      async (request, reply) => {
        reply.code(202)
        return run(parsePresenceBody(request.params.agent, request.body))
      },
    )
    app.get('/v1/queues', { schema: { summary: 'The queues of every source that has them', tags: ['calls'], response: jsonResponse() } }, async () => {
      const queues: Record<string, unknown>[] = []
      for (const s of deps.sources.values()) {
        if (!s.queues) continue
        try {
          for (const q of s.queues()) queues.push({ ...(q && typeof q === 'object' ? (q as Record<string, unknown>) : { value: q }), source: s.id })
        } catch (err) {
          log.error({ err, source: s.id }, 'queues() failed; left out')
        }
      }
      return { queues }
    })
  }
}
