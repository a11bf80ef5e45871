import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { checkActionParams, describeAction, runVendorAction, type VendorAction } from './core/actions.js'
import { UnsupportedAction, VendorRefused, VendorTimeout } from './core/control.js'
import { ApiError } from './core/errors.js'
import type { EventBus } from './core/events.js'
import { controlError, type RoutePlugin } from './core/http.js'
import type { Logger } from './core/log.js'
import { errorSchema, jsonResponse, stringParams } from './core/route-schema.js'
import { NOT_ASKED, type Source } from './core/source.js'

/** Answer headers of a vendor's recording download that are passed on. */
const PASS_HEADERS = ['content-type', 'content-length', 'content-range', 'accept-ranges', 'content-disposition', 'last-modified', 'etag']

export interface SourcesApiDeps {
  sources: { get(id: string): Source | undefined }
  log: Logger
  bus?: EventBus
}

function sourceOf(deps: SourcesApiDeps, id: string): Source {
  const s = deps.sources.get(id)
  if (!s) throw new ApiError('NOT_FOUND', `source ${id}`).with({ source: id })
  return s
}

function actionsOf(s: Source): readonly VendorAction[] {
  return s.vendorActions?.() ?? []
}

const actionSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', description: "the vendor's own name (LQ vo_id, Guoxin opt, Yantong action)" },
    description: { type: 'string' },
    kind: { type: 'string', enum: ['control', 'query'], description: 'control: acts, never retried; query: only asks, retried after a timeout' },
    params: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string', description: "the vendor's field name" },
          type: { type: 'string', enum: ['string', 'integer', 'number', 'boolean'] },
          required: { type: 'boolean' },
          description: { type: 'string' },
        },
      },
    },
  },
} as const

/**
 * The vendor's own functions, for any source that has them (`Source.vendorActions()`):
 * `GET /v1/sources/:id/actions` lists each action with its parameters, named as the vendor document
 * names them; `POST /v1/sources/:id/actions/:name` with a JSON body runs one: the body is checked
 * (400 naming the field), the vendor's answer comes back decoded (`{"result", "vendor"}`), a refusal
 * is 502 with the vendor's code and message, no answer 504, an unknown action 404 listing the known
 * ones. Controls are never retried, queries are. Each run is published as a `call` event, as the
 * common call-control routes are. And `GET /v1/sources/:id/recordings/:callid`: a recording the
 * vendor holds (`Source.openRecording()`), streamed through with Range.
 */
export function sourcesRoutes(deps: SourcesApiDeps): RoutePlugin {
  const { log, bus } = deps
  return (app: FastifyInstance) => {
    const tags = ['vendor actions']
    app.get<{ Params: { id: string } }>(
      '/v1/sources/:id/actions',
      {
        schema: {
          summary: "The source's vendor functions beyond call control, with their parameters",
          tags,
          params: stringParams('id'),
          response: jsonResponse({ type: 'object', properties: { source: { type: 'string' }, type: { type: 'string' }, actions: { type: 'array', items: actionSchema } } }),
        },
      },
      async (req) => {
        const s = sourceOf(deps, req.params.id)
        return { source: s.id, type: s.type, actions: actionsOf(s).map(describeAction) }
      },
    )

    app.post<{ Params: { id: string; name: string }; Body: unknown }>(
      '/v1/sources/:id/actions/:name',
      {
        schema: {
          summary: "Run one of the source's vendor functions; the body holds its fields, named as the vendor names them",
          tags,
          params: stringParams('id', 'name'),
          body: { description: "the action's fields (GET …/actions lists them)", type: 'object', additionalProperties: true },
          response: jsonResponse({ type: 'object', properties: { requestId: { type: 'string' }, source: { type: 'string' }, action: { type: 'string' }, result: {}, vendor: {} } }),
        },
      },
      async (req) => {
        const s = sourceOf(deps, req.params.id)
        const all = actionsOf(s)
        const action = all.find((a) => a.name === req.params.name)
        if (!action) {
          const known = all.map((a) => a.name)
          throw new ApiError('NOT_FOUND', `action ${req.params.name} of source ${s.id} (known: ${known.join(', ') || 'none'})`).with({ source: s.id, known })
        }
        const params = checkActionParams(action, req.body)
        const requestId = randomUUID()
        const summary = { requestId, action: action.name, kind: action.kind, source: s.id, params }
        if (NOT_ASKED.includes(s.status)) {
          const e = new ApiError('SOURCE_DOWN', `source ${s.id} is ${s.status}; nothing was sent`).with({ source: s.id, status: s.status, requestId })
          bus?.publish('call', { ...summary, phase: 'source-down', ms: 0, error: { code: e.code, message: e.message } })
          throw e
        }
        const t0 = performance.now()
        bus?.publish('call', { ...summary, phase: 'requested' })
        try {
          const out = await runVendorAction(action, params)
          const ms = Math.round(performance.now() - t0)
          log.info({ ...summary, ms }, 'vendor action done')
          bus?.publish('call', { ...summary, phase: 'accepted', ms })
          return { requestId, source: s.id, action: action.name, result: out.result, ...(out.vendor !== undefined ? { vendor: out.vendor } : {}) }
        } catch (err) {
          const ms = Math.round(performance.now() - t0)
          const api = err instanceof ApiError ? err : controlError(err)
          const phase = err instanceof VendorRefused ? 'refused' : err instanceof VendorTimeout ? 'timeout' : err instanceof UnsupportedAction ? 'unsupported' : api ? 'invalid' : 'failed'
          const error = api ? { code: api.code, message: api.message, ...api.extra } : { code: 'INTERNAL', message: (err as Error).message }
          if (phase === 'failed') log.error({ ...summary, ms, err }, 'vendor action failed')
          else log.warn({ ...summary, ms, phase, error }, 'vendor action not done')
          bus?.publish('call', { ...summary, phase, ms, error })
          if (api) api.with({ ...api.extra, requestId })
          throw api ?? err
        }
      },
    )

    app.get<{ Params: { id: string; callid: string } }>(
      '/v1/sources/:id/recordings/:callid',
      {
        schema: {
          summary: 'A recording the vendor holds (Guoxin FileDownServlet, Yantong GetRecord, LQ playSelected), streamed through (Range passed on)',
          tags: ['recordings'],
          params: stringParams('id', 'callid'),
          response: {
            200: { description: "the recording, in the vendor's content type", content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
            206: { description: 'the requested range' },
            '4xx': errorSchema,
            '5xx': errorSchema,
          },
        },
      },
      async (req, reply) => {
        const s = sourceOf(deps, req.params.id)
        if (!s.openRecording) throw new UnsupportedAction(s.id, 'recordings', `a ${s.type} source has no recordings here`)
        const ref = req.params.callid
        const range = typeof req.headers.range === 'string' ? req.headers.range : undefined
        const ac = new AbortController()
        // the client going away stops the download from the vendor too
        reply.raw.once('close', () => ac.abort())
        const rec = await s.openRecording(ref, { range, signal: ac.signal })
        const header = (h: string): string | undefined => {
          const v = rec.headers[h]
          return Array.isArray(v) ? v.join(', ') : v
        }
        if (rec.status === 404 || (rec.status === 200 && header('content-length') === '0')) {
          rec.body.destroy()
          throw new ApiError('NOT_FOUND', `recording of call ${ref}`).with({ source: s.id, callid: ref })
        }
        if (rec.status === 416) {
          rec.body.destroy()
          throw new ApiError('RANGE_NOT_SATISFIABLE', range ?? '')
        }
        if (rec.status !== 200 && rec.status !== 206) {
          const text = await firstBytes(rec.body, 200)
          throw new VendorRefused(s.id, rec.status, `${rec.service} answered ${rec.status}${text ? `: ${text}` : ''}`)
        }
        reply.code(rec.status)
        for (const h of PASS_HEADERS) {
          const v = header(h)
          if (v !== undefined) reply.header(h, v)
        }
        if (header('content-type') === undefined) reply.header('content-type', 'application/octet-stream')
        // a vendor that stalls or breaks mid-file ends our answer too (the client sees a short body)
        rec.body.on('error', () => {})
        return reply.send(rec.body)
      },
    )
  }
}

/** The first bytes of a refused download's body, for the message. */
async function firstBytes(body: Readable, max: number): Promise<string> {
  let text = ''
  try {
    for await (const c of body) {
      text += (c as Buffer).toString('utf8')
      if (text.length >= max) break
    }
  } catch {
    // the body failed mid-read: what arrived is the excerpt
  }
  body.destroy()
  return text.slice(0, max).trim()
}
