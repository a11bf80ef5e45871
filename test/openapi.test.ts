import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Validator } from '@seriousme/openapi-schema-validator'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { registeredRoutes } from '../daemon/core/http.js'
import { VERSION } from '../daemon/core/version.js'
import { Daemon } from '../daemon/daemon.js'
import { until } from './helpers/sse.js'

// nothing listens here: the sources stay down, which is all this test needs of them
const DEAD = 'http://127.0.0.1:9'
const TOKEN = 'openapi-test-token-0123456789'

/**
 * A daemon with every module's routes: a source of each kind with routes (lq-socket for lqServer,
 * lq-vack with its callbacks, guoxin with its push and API, yantong), 800hu boxes with the local
 * API, the ingest listener, a webhook. No lq-dll source: it has no routes and would start a DLL host.
 */
async function daemon(t: Tap.Test): Promise<{ d: Daemon; url: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'telbridge-openapi-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const config = parseConfig({
    timeZone: 'Asia/Shanghai',
    dataDir,
    api: { port: 0, token: TOKEN },
    ingest: { host: '127.0.0.1', port: 0 },
    boxes: { allow: ['00:00:00:00:00:01'], localApi: { user: 'admin', password: 'secret' } },
    lqServer: { port: 0, sources: ['lq'] },
    webhooks: [{ url: `${DEAD}/hook` }],
    sources: [
      { id: 'lq', type: 'lq-socket', host: '127.0.0.1', port: 9, oper: '801', reconnectSeconds: 60 },
      { id: 'lqv', type: 'lq-vack', url: DEAD, secret: 'lcall', pollMs: 60_000 },
      { id: 'gx', type: 'guoxin', url: DEAD, pollMs: 60_000 },
      { id: 'yt', type: 'yantong', url: DEAD, companyid: 8, staff: ['8001'], pollMs: 60_000, cdrPollMs: 0 },
    ],
  })
  const d = new Daemon(config, { log: pino({ level: process.env.TB_TEST_LOG ?? 'silent' }) })
  const { apiUrl } = await d.start()
  t.teardown(() => d.stop())
  // stopped while its first poll is in flight, an HTTP source throws "socket hang up" uncaught
  // (a bug of the sources, not of this test): wait for the polls to fail first
  await until(() => ['lqv', 'gx', 'yt'].every((id) => d.sources.get(id)!.status === 'down'), 5000, 'the first polls failed')
  return { d, url: apiUrl }
}

/** `/v1/sources/:id` as OpenAPI writes it: `/v1/sources/{id}`. */
const openapiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')

/**
 * method → path of every route on a listener, but fastify's automatic HEAD beside each GET, and
 * routes hidden on purpose: only @fastify/cors's `OPTIONS *` preflight route (its own
 * `hideOptionsRoute`), which answers any path and is no API.
 */
function routesOf(app: FastifyInstance): string[] {
  const out = new Set<string>()
  for (const r of registeredRoutes(app)) {
    // a HEAD registered on its own is fastify's automatic one; a route that declares HEAD lists it with GET
    if (r.method === 'HEAD') continue
    if ((r.schema as { hide?: boolean } | undefined)?.hide) {
      if (r.method !== 'OPTIONS' || r.url !== '*') throw new Error(`${String(r.method)} ${r.url} is hidden from the OpenAPI document`)
      continue
    }
    for (const m of [r.method].flat()) out.add(`${m.toLowerCase()} ${openapiPath(r.url)}`)
  }
  return [...out].sort()
}

/** Routes that lack a summary and tags, a params schema for a `:param` URL, or a body schema for a JSON POST. */
function undeclared(app: FastifyInstance, vendorShaped: readonly string[]): string[] {
  const out: string[] = []
  for (const r of registeredRoutes(app)) {
    const schema = r.schema as { summary?: string; tags?: string[]; params?: unknown; body?: unknown; hide?: boolean } | undefined
    if (r.method === 'HEAD' || schema?.hide) continue
    const name = `${String(r.method)} ${r.url}`
    if (!schema?.summary || !schema.tags?.length) out.push(`${name}: summary, tags`)
    if (r.url.includes(':') && !schema?.params) out.push(`${name}: params`)
    // the vendor-shaped routes take fields any way the vendor sends them, so they only describe them
    if ([r.method].flat().includes('POST') && !schema?.body && !vendorShaped.includes(r.url)) out.push(`${name}: body`)
  }
  return out
}

function documented(doc: { paths?: Record<string, Record<string, unknown>> }): Set<string> {
  const out = new Set<string>()
  for (const [p, ops] of Object.entries(doc.paths ?? {})) for (const m of Object.keys(ops)) out.add(`${m} ${p}`)
  return out
}

async function valid(t: Tap.Test, doc: unknown, what: string): Promise<void> {
  const res = await new Validator().validate(doc as object)
  t.ok(res.valid, `${what} is a valid OpenAPI document`)
  if (!res.valid) t.comment(JSON.stringify(res.errors, null, 2).slice(0, 4000))
}

t.test('GET /openapi.json: a valid OpenAPI 3.1 document of every route on the API listener, without a token', async (t) => {
  const { d, url } = await daemon(t)
  const res = await fetch(`${url}/openapi.json`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /application\/json/)
  const doc = (await res.json()) as { openapi: string; info: { version: string }; paths: Record<string, Record<string, unknown>> }
  t.equal(doc.openapi, '3.1.0')
  t.equal(doc.info.version, VERSION)
  await valid(t, doc, '/openapi.json')
  const routes = routesOf(d.api)
  t.ok(routes.length > 30, `the routes were collected (${routes.length})`)
  const paths = documented(doc)
  t.same(
    routes.filter((r) => !paths.has(r)),
    [],
    'every route on the API listener is documented',
  )
  t.same(undeclared(d.api, ['/voip/api/jsondata.html', '/voip/api/upload_record_file.html']), [], 'every route declares its schema')
  for (const r of [
    'get /v1/recordings/{callid}/audio',
    'head /v1/recordings/{callid}/audio',
    'post /v1/calls',
    'post /v1/devices/{mac}/commands',
    'get /v1/sources/{id}/call-log',
    'post /voip/api/jsondata.html',
  ]) {
    t.ok(paths.has(r), r)
  }
  // the rest of the API still needs the token
  t.equal((await fetch(`${url}/v1/sources`)).status, 401)
})

t.test("GET /openapi-ingest.json (behind the token): the ingest listener's valid document, of every route on it", async (t) => {
  const { d, url } = await daemon(t)
  t.equal((await fetch(`${url}/openapi-ingest.json`)).status, 401, 'it names configured paths: token needed')
  const res = await fetch(`${url}/openapi-ingest.json`, { headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(res.status, 200)
  const doc = (await res.json()) as { openapi: string; info: { version: string }; paths: Record<string, Record<string, unknown>> }
  t.equal(doc.openapi, '3.1.0')
  t.equal(doc.info.version, VERSION)
  await valid(t, doc, 'the ingest document')
  const routes = routesOf(d.ingest!)
  t.ok(routes.includes('get /guoxin/gx/push') && routes.includes('get /lq/lqv/cust') && routes.includes('post /voip/api/jsondata.html'), routes.join(', '))
  const paths = documented(doc)
  t.same(
    routes.filter((r) => !paths.has(r)),
    [],
    'every route on the ingest listener is documented',
  )
  t.same(
    undeclared(d.ingest!, ['/upload_record', '/voip/api/upload_record', '/voip/api/upload_record.html', '/voip/api/jsondata.html', '/voip/api/upload_record_file.html']),
    [],
    'every route declares its schema',
  )
})

t.test("bad input is refused by the routes' schemas: 400 in our error shape, naming the field", async (t) => {
  const { url } = await daemon(t)
  const auth = { authorization: `Bearer ${TOKEN}` }
  const call = async (path: string, init: RequestInit = {}) => {
    const r = await fetch(url + path, { ...init, headers: { ...auth, ...(init.body ? { 'content-type': 'application/json' } : {}) } })
    return { status: r.status, body: (await r.json()) as { error: { code: string; message: string; field?: string } } }
  }
  const cases: [string, RequestInit, string, string][] = [
    ['/v1/calls', { method: 'POST', body: JSON.stringify({ source: 'gx', agent: '8001', phone: 13800000000 }) }, 'BAD_REQUEST', 'phone'],
    ['/v1/calls', { method: 'POST', body: JSON.stringify({ source: 'gx', agent: '8001', phone: '1', extra: true }) }, 'BAD_REQUEST', 'extra'],
    ['/v1/calls/hangup', { method: 'POST', body: JSON.stringify({ source: 5, agent: '8001' }) }, 'BAD_REQUEST', 'source'],
    ['/v1/agents/8001/presence', { method: 'POST', body: JSON.stringify({ source: 'gx', presence: 'away' }) }, 'BAD_REQUEST', 'presence'],
    ['/v1/devices/00:00:00:00:00:01/commands', { method: 'POST', body: JSON.stringify({ type: 'dial', channel: true, phone: '1' }) }, 'BAD_REQUEST', 'channel'],
    ['/v1/recordings?limit=abc', {}, 'BAD_QUERY', 'limit'],
    ['/v1/recordings?channel=1&channel=2', {}, 'BAD_QUERY', 'channel'],
    ['/v1/pops?limit=0', {}, 'BAD_QUERY', 'limit'],
    ['/v1/channels?state=dancing', {}, 'BAD_QUERY', 'state'],
    ['/v1/sources/gx/call-log?begin=2024-05-01&max=lots', {}, 'BAD_QUERY', 'max'],
  ]
  for (const [path, init, code, field] of cases) {
    const r = await call(path, init)
    t.equal(r.status, 400, `${path} ${init.body ?? ''}`)
    t.equal(r.body.error.code, code, path)
    t.match(r.body.error.message, field, `${path}: ${r.body.error.message}`)
    if (code === 'BAD_REQUEST') t.equal(r.body.error.field, field, path)
  }
  // these words are only in the schemas' descriptions: fastify's validator answered, not the handler
  t.match((await call('/v1/pops?limit=abc')).body.error.message, /limit: expected a whole number from 1 to 1000 \(pops\.keep\); default 100, got "abc"/)
  t.match((await call('/v1/recordings?limit=5000')).body.error.message, /limit: expected a whole number from 1 to 1000 \(default 50\), got number 5000/)
})
