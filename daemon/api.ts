import { timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ApiConfig } from './config.js'
import { ApiError } from './core/errors.js'
import { createListener, installJsonErrors, type RoutePlugin } from './core/http.js'
import type { EventBus } from './core/events.js'
import type { Logger } from './core/log.js'
import { LoginLimiter } from './core/login-limit.js'
import type { Metrics } from './core/metrics.js'
import { installOriginGuard } from './origin-guard.js'
import { ROOT } from './core/paths.js'
import type { PopHub } from './core/pops.js'
import type { Source } from './core/source.js'
import { SseClient } from './sse.js'
import { CHANNEL_STATES, entryJson, type ChannelState, type ChannelTable } from './core/table.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** a route registered with `config: { public: true }` skips the bearer check */
    public?: boolean
  }
}

export interface ApiDeps {
  config: ApiConfig
  log: Logger
  table: ChannelTable
  bus: EventBus
  pops: PopHub
  popsKeep: number
  metrics: Metrics
  sources: ReadonlyMap<string, Source>
  version: string
  startedAt: number
  /** more routes (devices, recordings, calls); a route with `config: { public: true }` skips the bearer check */
  routes?: readonly RoutePlugin[]
}

/** Retry-After on a refused event stream: EventSource retries on its own anyway; this paces other clients. */
const SSE_RETRY_AFTER_SECONDS = 5

// The page is a static file next to the sources (no build step); read once at start.
const PAGE_PATH = join(ROOT, 'daemon', 'page', 'index.html')

/** 'missing' when the request carries no token at all (not counted as a failed login). */
function bearerOk(req: FastifyRequest, token: Buffer): boolean | 'missing' {
  const h = req.headers.authorization
  let given: string | undefined
  if (typeof h === 'string' && h.startsWith('Bearer ')) given = h.slice(7).trim()
  // EventSource cannot send headers: the page passes the token as ?access_token=, and a person
  // opens the page itself as /?token=…
  if (given === undefined) {
    const q = req.query as Record<string, unknown> | undefined
    const v = q?.access_token ?? q?.token
    if (typeof v === 'string') given = v
  }
  if (given === undefined) return 'missing'
  const g = Buffer.from(given)
  return g.length === token.length && timingSafeEqual(g, token)
}

function intQuery(q: Record<string, unknown>, name: string, min: number, max: number, dflt: number): number {
  const v = q[name]
  if (v === undefined || v === '') return dflt
  if (typeof v !== 'string' || !/^-?\d{1,16}$/.test(v)) throw new ApiError('BAD_QUERY', name, `expected a whole number from ${min} to ${max}`)
  const n = Number(v)
  if (n < min || n > max) throw new ApiError('BAD_QUERY', name, `expected a whole number from ${min} to ${max}, got ${n}`)
  return n
}

function strQuery(q: Record<string, unknown>, name: string): string | undefined {
  const v = q[name]
  if (v === undefined) return undefined
  if (typeof v !== 'string') throw new ApiError('BAD_QUERY', name, 'expected a single value')
  return v
}

export function buildApi(deps: ApiDeps): FastifyInstance {
  const { config, table, bus, pops, sources } = deps
  const app = createListener(deps.log, 'api', config)
  const page = readFileSync(PAGE_PATH, 'utf8')
  const token = config.token ? Buffer.from(config.token) : null
  let sseDrops = 0
  let sseRefused = 0
  const streams = new Set<SseClient>()
  // end open event streams cleanly before the server closes, so clients see a finished response
  app.addHook('preClose', async () => {
    for (const s of streams) s.close()
  })

  deps.metrics.gauge('telbridge_sse_clients', 'Connected event-stream clients', () => [[undefined, bus.subscriberCount]])
  deps.metrics.gauge('telbridge_sse_dropped_total', 'Event-stream clients cut off for a full backlog', () => [[undefined, sseDrops]])
  deps.metrics.gauge('telbridge_sse_refused_total', 'Event-stream clients refused with 503 because api.maxSseClients were connected', () => [[undefined, sseRefused]])

  // Host, Origin and CORS first: a rebound or cross-site request is refused before anything else
  installOriginGuard(app, { host: config.host, allowedHosts: config.allowedHosts, origins: config.cors.origins })

  // wrong bearer tokens and wrong local-800hu-API passwords count against one budget per address
  const limiter = new LoginLimiter({ max: config.loginRateLimit.max, windowSeconds: config.loginRateLimit.windowSeconds, log: app.log as unknown as Logger })
  app.decorate('loginLimiter', limiter)

  app.addHook('onRequest', async (req, reply) => {
    if (!token || req.url === '/v1/health' || req.url.startsWith('/v1/health?')) return
    if (req.routeOptions.config?.public) return
    const ok = bearerOk(req, token)
    if (ok === 'missing') throw new ApiError('UNAUTHORIZED') // no guess: neither counted nor limited
    // an address over the limit gets 429 even for the right token: no answer tells a guess apart
    const wait = limiter.refused(req.socket.remoteAddress, 'bearer token')
    if (wait) {
      // answered here, not thrown: the limiter logs once per window, the error handler would log each
      const e = new ApiError('TOO_MANY_REQUESTS', `too many failed logins from this address; try again in ${wait} s`)
      return reply.code(e.status).header('retry-after', String(wait)).send(e.toJSON())
    }
    if (ok) return
    limiter.fail(req.socket.remoteAddress)
    throw new ApiError('UNAUTHORIZED')
  })

  installJsonErrors(app)

  app.get('/v1/health', async () => {
    const list = [...sources.values()]
    return {
      status: 'ok',
      version: deps.version,
      uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
      sources: { total: list.length, connected: list.filter((s) => s.status === 'connected').length },
      channels: table.size,
    }
  })

  app.get('/v1/sources', async () => ({ sources: [...sources.values()].map((s) => s.info()) }))
  app.get('/v1/sources/:id', async (req) => {
    const s = sources.get((req.params as { id: string }).id)
    if (!s) throw new ApiError('NOT_FOUND', `source ${(req.params as { id: string }).id}`)
    return s.info()
  })

  app.get('/v1/channels', async (req) => {
    const q = req.query as Record<string, unknown>
    const source = strQuery(q, 'source')
    const state = strQuery(q, 'state')
    if (state !== undefined && !(CHANNEL_STATES as readonly string[]).includes(state)) {
      throw new ApiError('BAD_QUERY', 'state', `expected one of ${CHANNEL_STATES.join(', ')}`)
    }
    const list = table.list({ source, state: state as ChannelState | undefined })
    list.sort((a, b) => (a.source === b.source ? compareChannel(a.channel, b.channel) : a.source < b.source ? -1 : 1))
    return { channels: list.map(entryJson), lastEventId: bus.lastId }
  })
  app.get('/v1/channels/:id', async (req) => {
    const id = (req.params as { id: string }).id
    const e = table.get(id)
    if (!e) throw new ApiError('NOT_FOUND', `channel ${id}`)
    return entryJson(e)
  })

  app.get('/v1/pops', async (req) => {
    const q = req.query as Record<string, unknown>
    const limit = intQuery(q, 'limit', 1, deps.popsKeep, Math.min(100, deps.popsKeep))
    return { pops: pops.list({ limit, source: strQuery(q, 'source') }) }
  })

  app.get('/v1/events', (req: FastifyRequest, reply: FastifyReply): FastifyReply | undefined => {
    const q = req.query as Record<string, unknown>
    const header = req.headers['last-event-id']
    let since: number | null = null
    const raw = typeof header === 'string' && header !== '' ? header : strQuery(q, 'since')
    if (raw !== undefined) {
      if (!/^\d{1,16}$/.test(raw)) throw new ApiError('BAD_QUERY', typeof header === 'string' ? 'Last-Event-ID' : 'since', 'expected an event id (a whole number)')
      since = Number(raw)
    }
    if (streams.size >= config.maxSseClients) {
      sseRefused++
      // each client holds a socket and its buffers (README: event stream); a full house is a 503, not a slow OOM
      const e = new ApiError('TOO_MANY_CLIENTS', `${streams.size} event-stream clients are connected (api.maxSseClients); retry later`).with({ limit: config.maxSseClients })
      return reply.code(e.status).header('retry-after', String(SSE_RETRY_AFTER_SECONDS)).send(e.toJSON())
    }
    reply.hijack()
    const client = new SseClient(reply.raw, bus, since, {
      maxBacklogBytes: config.sseMaxBacklogBytes,
      heartbeatMs: config.sseHeartbeatSeconds * 1000,
      onDrop: (reason) => {
        sseDrops++
        deps.log.warn({ reason, remote: req.socket.remoteAddress }, 'event-stream client too slow; disconnected (it can resume with Last-Event-ID)')
      },
    })
    streams.add(client)
    reply.raw.on('close', () => streams.delete(client))
  })

  app.get('/metrics', async (_req, reply) => {
    reply.type('text/plain; version=0.0.4; charset=utf-8')
    return deps.metrics.render()
  })

  app.get('/', async (_req, reply) => {
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache')
    return page
  })

  for (const r of deps.routes ?? []) r(app)
  return app
}

/** Channels sort numerically when both are numbers ("2" before "10"). */
function compareChannel(a: string, b: string): number {
  const na = Number(a)
  const nb = Number(b)
  if (Number.isFinite(na) && Number.isFinite(nb)) return na - nb
  return a < b ? -1 : a > b ? 1 : 0
}
