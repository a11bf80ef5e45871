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
import { anyObject, errorSchema, jsonResponse, queryInt, stringParams } from './core/route-schema.js'
import type { PopHub } from './core/pops.js'
import type { Source } from './core/source.js'
import type { DbHealth } from './core/db.js'
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
  /** the ingest listener's OpenAPI document, when there is one */
  ingestOpenApi?: () => unknown
  /** the size report in /v1/health; absent or null: the key is left out (no database open) */
  storage?: () => StorageReport | null
  /** the database's state for /v1/health (absent: not reported) */
  database?: () => DbHealth
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

const healthSchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok'] },
    version: { type: 'string' },
    uptimeSeconds: { type: 'integer' },
    sources: { type: 'object', properties: { total: { type: 'integer' }, connected: { type: 'integer' } } },
    channels: { type: 'integer' },
    storage: {
      type: 'object',
      description: 'what telbridge.db holds: rows and bytes only (public)',
      properties: {
        calls: { type: 'object', properties: { count: { type: 'integer' } } },
        recordings: { type: 'object', properties: { count: { type: 'integer' }, bytes: { type: 'integer' } } },
        database: { type: 'object', properties: { bytes: { type: 'integer' }, walBytes: { type: 'integer' } } },
      },
    },
    database: {
      type: 'object',
      description: 'The SQLite database (call log, agents, recording index): when ok is false the daemon runs without them and error says why',
      properties: {
        ok: { type: 'boolean' },
        driver: { type: ['string', 'null'], enum: ['better-sqlite3', 'node:sqlite', null] },
        bytes: { type: 'integer' },
        error: { type: 'string' },
      },
    },
  },
} as const

/** The size report in /v1/health (daemon.ts builds it from telbridge.db). */
export interface StorageReport {
  calls: { count: number }
  recordings: { count: number; bytes: number }
  database: { bytes: number; walBytes: number }
}

export function buildApi(deps: ApiDeps): FastifyInstance {
  const { config, table, bus, pops, sources } = deps
  // a misspelt ?source= would otherwise look like a quiet source: say it is unknown instead
  const knownSource = (id: string | undefined) => {
    if (id !== undefined && !sources.has(id)) throw new ApiError('NOT_FOUND', `source ${JSON.stringify(id.slice(0, 64))}`).with({ source: id.slice(0, 64), known: [...sources.keys()] })
  }
  const app = createListener(deps.log, 'api', config, {
    title: 'telbridge local API',
    description:
      'One local API over the call-center vendors: channels, pops, events (SSE), call control, recordings, devices. Every route needs `Authorization: Bearer <api.token>` when api.token is set, except /v1/health and /openapi.json.',
    bearer: true,
  })
  const page = readFileSync(PAGE_PATH, 'utf8')
  const token = config.token ? Buffer.from(config.token) : null
  let sseDrops = 0
  let sseRefused = 0
  const streams = new Set<SseClient>()
  // end open event streams cleanly before the server closes, so clients see a finished response
  app.addHook('preClose', async () => {
    for (const s of streams) s.close()
  })

  const requestSeconds = deps.metrics.histogram(
    'telbridge_http_request_duration_seconds',
    'Local API requests by method, route pattern and status code, until the response is sent (the event stream not counted)',
    ['method', 'route', 'code'],
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  )
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url
    if (route === '/v1/events') return // an open stream lasts as long as the client wants
    // the route pattern, not the URL: unknown paths share one series
    requestSeconds.observe({ method: req.method, route: route ?? 'unmatched', code: String(reply.statusCode) }, reply.elapsedTime / 1000)
  })
  deps.metrics.gauge('telbridge_sse_clients', 'Connected event-stream clients', () => [[undefined, bus.subscriberCount]])
  deps.metrics.counterFrom('telbridge_sse_dropped_total', 'Event-stream clients cut off for a full backlog', () => [[undefined, sseDrops]])
  deps.metrics.counterFrom('telbridge_sse_refused_total', 'Event-stream clients refused with 503 because api.maxSseClients were connected', () => [[undefined, sseRefused]])

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

  // the routes in a plugin, so the OpenAPI plugin (registered by createListener) sees each one
  app.register(async (app) => {
    app.get(
      '/v1/health',
      {
        schema: {
          summary: 'Liveness, a count of sources and channels, and the size of the call log and recording index (no token needed)',
          tags: ['status'],
          security: [],
          response: jsonResponse(healthSchema),
        },
      },
      async () => {
        const list = [...sources.values()]
        const storage = deps.storage?.() ?? null
        return {
          status: 'ok',
          version: deps.version,
          uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
          sources: { total: list.length, connected: list.filter((s) => s.status === 'connected').length },
          channels: table.size,
          ...(storage ? { storage } : {}),
          ...(deps.database ? { database: deps.database() } : {}),
        }
      },
    )

    // Public like /v1/health: it describes the software's routes and schemas, nothing configured
    // (no source ids, tokens or addresses), and a client reads it before it has a token.
    app.get('/openapi.json', { config: { public: true }, schema: { summary: 'This OpenAPI 3.1 document (no token needed)', tags: ['status'], security: [], response: { 200: anyObject } } }, async () =>
      app.swagger(),
    )

    // Behind the token, unlike /openapi.json: the ingest routes carry configured paths and source ids.
    // Served here because the ingest listener faces the LAN and its callers (boxes, vendors) never read it.
    const ingestDoc = deps.ingestOpenApi
    if (ingestDoc)
      app.get('/openapi-ingest.json', { schema: { summary: "The ingest listener's OpenAPI 3.1 document (box and vendor callbacks)", tags: ['status'], response: { 200: anyObject } } }, async () =>
        ingestDoc(),
      )

    app.get('/v1/sources', { schema: { summary: 'Every source with its status', tags: ['sources'], response: jsonResponse() } }, async () => ({ sources: [...sources.values()].map((s) => s.info()) }))
    app.get<{ Params: { id: string } }>('/v1/sources/:id', { schema: { summary: 'One source', tags: ['sources'], params: stringParams('id'), response: jsonResponse() } }, async (req) => {
      const s = sources.get(req.params.id)
      if (!s) throw new ApiError('NOT_FOUND', `source ${req.params.id}`)
      return s.info()
    })

    const channelsQuery = {
      type: 'object',
      properties: {
        source: { type: 'string', description: 'a source id: only its channels' },
        state: { type: 'string', enum: CHANNEL_STATES, description: `one of ${CHANNEL_STATES.join(', ')}` },
      },
    } as const
    app.get<{ Querystring: { source?: string; state?: ChannelState } }>(
      '/v1/channels',
      { schema: { summary: 'The channel table, sorted by source and channel', tags: ['channels'], querystring: channelsQuery, response: jsonResponse() } },
      async (req) => {
        const { source, state } = req.query
        knownSource(source)
        const list = table.list({ source, state })
        list.sort((a, b) => (a.source === b.source ? compareChannel(a.channel, b.channel) : a.source < b.source ? -1 : 1))
        return { channels: list.map(entryJson), lastEventId: bus.lastId }
      },
    )
    app.get<{ Params: { id: string } }>(
      '/v1/channels/:id',
      { schema: { summary: 'One channel by id (<source>:<channel>)', tags: ['channels'], params: stringParams('id'), response: jsonResponse() } },
      async (req) => {
        const id = req.params.id
        const e = table.get(id)
        if (!e) throw new ApiError('NOT_FOUND', `channel ${id}`)
        return entryJson(e)
      },
    )

    const popsQuery = {
      type: 'object',
      properties: {
        limit: queryInt(1, deps.popsKeep, `a whole number from 1 to ${deps.popsKeep} (pops.keep); default ${Math.min(100, deps.popsKeep)}`),
        source: { type: 'string', description: 'a source id: only its pops' },
      },
    } as const
    app.get<{ Querystring: { limit?: number | null; source?: string } }>(
      '/v1/pops',
      { schema: { summary: 'The latest screen pops, newest first', tags: ['pops'], querystring: popsQuery, response: jsonResponse() } },
      async (req) => {
        const limit = req.query.limit ?? Math.min(100, deps.popsKeep)
        knownSource(req.query.source)
        return { pops: pops.list({ limit, source: req.query.source }) }
      },
    )

    const eventsSchema = {
      summary: 'The event stream (text/event-stream): channel, pop, call, recording… events; resumes with Last-Event-ID or ?since=',
      tags: ['events'],
      querystring: { type: 'object', properties: { since: { type: 'string', pattern: '^\\d{1,16}$', description: 'an event id (a whole number): replay the events after it' } } },
      headers: { type: 'object', properties: { 'last-event-id': { type: 'string', description: 'an event id (a whole number), as EventSource sends it on a reconnect' } } },
      response: { 200: { description: 'an event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, '4xx': errorSchema, '5xx': errorSchema },
    } as const
    app.get<{ Querystring: { since?: string } }>('/v1/events', { schema: eventsSchema }, (req: FastifyRequest<{ Querystring: { since?: string } }>, reply: FastifyReply): FastifyReply | undefined => {
      const header = req.headers['last-event-id']
      let since: number | null = null
      const raw = typeof header === 'string' && header !== '' ? header : req.query.since
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

    app.get(
      '/metrics',
      { schema: { summary: 'Prometheus metrics', tags: ['status'], response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
      async (_req, reply) => {
        reply.type('text/plain; version=0.0.4; charset=utf-8')
        return deps.metrics.render()
      },
    )

    app.get(
      '/',
      {
        schema: {
          summary: 'The status page (HTML; a person opens it as /?token=…)',
          tags: ['status'],
          response: { 200: { description: 'the page', content: { 'text/html': { schema: { type: 'string' } } } } },
        },
      },
      async (_req, reply) => {
        reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache')
        return page
      },
    )

    for (const r of deps.routes ?? []) r(app)
  })
  return app
}

/** Channels sort numerically when both are numbers ("2" before "10"). */
function compareChannel(a: string, b: string): number {
  const na = Number(a)
  const nb = Number(b)
  if (Number.isFinite(na) && Number.isFinite(nb)) return na - nb
  return a < b ? -1 : a > b ? 1 : 0
}
