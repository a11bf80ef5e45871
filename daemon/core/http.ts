import swagger from '@fastify/swagger'
import { Ajv, type ErrorObject } from 'ajv'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type RouteOptions } from 'fastify'
import { UnsupportedAction, VendorRefused, VendorTimeout } from './control.js'
import { EDGE_OPTIONS, installEdges } from './edges.js'
import { ApiError, describeValue } from './errors.js'
import { httpLimitOptions, installHttpLimits, type HttpLimitOptions } from './http-limits.js'
import type { Logger } from './log.js'
import { VERSION } from './version.js'

/**
 * A fastify instance as both listeners (local API, ingest) start: JSON error shape, the edge checks
 * first (URL bound, JSON depth, the parser's own refusals), then the body timers, so a body is timed
 * whatever the later hooks decide. Routes and other hooks come after.
 */
export function createListener(log: Logger, component: string, limits: HttpLimitOptions, doc: ListenerDoc): FastifyInstance {
  const app = Fastify({
    loggerInstance: log.child({ component }) as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1 << 20,
    return503OnClosing: true,
    forceCloseConnections: true,
    ...httpLimitOptions(limits),
    ...EDGE_OPTIONS,
  })
  installEdges(app)
  installHttpLimits(app, limits)
  installSchemas(app)
  const routes: RouteOptions[] = []
  listenerRoutes.set(app, routes)
  app.addHook('onRoute', (r) => {
    routes.push(r)
  })
  // onRoute of a plugin only sees routes added after it loads: routes go in app.register(…) after this
  app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: doc.title, description: doc.description, version: VERSION },
      ...(doc.bearer
        ? {
            components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'api.token; `?access_token=` where a header cannot be sent (EventSource)' } } },
            security: [{ bearer: [] }],
          }
        : {}),
    },
  })
  return app
}

/** What the listener's OpenAPI document says of it. */
export interface ListenerDoc {
  title: string
  description: string
  /** routes need `Authorization: Bearer <api.token>` unless they say otherwise */
  bearer?: boolean
}

const listenerRoutes = new WeakMap<FastifyInstance, RouteOptions[]>()

/** Every route registered on a listener made by createListener (fastify's automatic HEAD routes too). */
export function registeredRoutes(app: FastifyInstance): readonly RouteOptions[] {
  return listenerRoutes.get(app) ?? []
}

/**
 * Route schemas: querystring, params and headers are validated with coercion (they are text: `?limit=5`
 * is the integer 5), bodies without (a JSON body carries its types: `"phone": 13800000000` stays a
 * number, and wrong). Errors carry the failing schema and value (`verbose`) so installJsonErrors can
 * say what was expected (validationError). Response schemas are documentation only: answers are written with
 * JSON.stringify as before, never filtered by a schema.
 */
function installSchemas(app: FastifyInstance): void {
  const common = { verbose: true, allErrors: false, allowUnionTypes: true, addUsedSchema: false, strictTypes: false } as const
  const text = new Ajv({ ...common, coerceTypes: 'array', useDefaults: true, removeAdditional: false })
  const json = new Ajv({ ...common, coerceTypes: false, useDefaults: false, removeAdditional: false })
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? json : text).compile(schema))
  app.setSerializerCompiler(() => (data) => JSON.stringify(data))
}

/**
 * A failed route schema as our error: the field by name (`limit`, `agent`, `body`) with what its
 * schema's `description` says is expected. Query parameters are BAD_QUERY like the handlers' own
 * checks; params, body and headers BAD_REQUEST with `field`.
 */
export function validationError(err: { validation: readonly ErrorObject[]; validationContext?: string }): ApiError {
  const ctx = err.validationContext ?? 'body'
  const v = err.validation[0]
  if (!v) return new ApiError('BAD_REQUEST', `${ctx}: invalid`)
  const path = v.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  const properties = (v.parentSchema?.properties ?? {}) as Record<string, { description?: string }>
  let expected: string
  // the value is shown when there is one to show (not for a missing or an unknown field)
  let got: unknown
  if (v.keyword === 'required') {
    const name = (v.params as { missingProperty: string }).missingProperty
    path.push(name)
    expected = `expected ${properties[name]?.description ?? 'a value'}`
  } else if (v.keyword === 'additionalProperties') {
    path.push((v.params as { additionalProperty: string }).additionalProperty)
    expected = `no such field (known: ${Object.keys(properties).join(', ')})`
  } else {
    // without `verbose` (a plain fastify in tests) there is no schema to quote: ajv's message then
    const d = (v.parentSchema as { description?: string } | undefined)?.description
    expected = d ? `expected ${d}` : (v.message ?? 'invalid')
    got = v.data
  }
  const field = path.join('.') || (ctx === 'querystring' ? 'query' : ctx)
  const tail = got === undefined ? '' : `, got ${describeValue(got)}`
  if (ctx === 'querystring') return new ApiError('BAD_QUERY', field, expected + tail)
  return new ApiError('BAD_REQUEST', `${field}: ${expected}${tail}`).with({ field })
}

/** Adapter failures (control.ts) as API errors: 422 / 502 with the vendor's code and message / 504. */
export function controlError(err: unknown): ApiError | null {
  if (err instanceof UnsupportedAction) return new ApiError('UNSUPPORTED_ACTION', err.message).with({ source: err.source, action: err.action })
  if (err instanceof VendorRefused) return new ApiError('VENDOR_REFUSED', err.message).with({ source: err.source, vendor: { code: err.vendorCode, message: err.vendorMessage } })
  if (err instanceof VendorTimeout) return new ApiError('VENDOR_TIMEOUT', err.message).with({ source: err.source })
  return null
}

/**
 * JSON errors `{"error":{code,message}}` for a fastify instance: ApiError as is, fastify's own 4xx
 * as BAD_REQUEST (or PAYLOAD_TOO_LARGE), anything else logged with its stack and answered INTERNAL.
 * Shared by the local API and the ingest listener.
 */
export function installJsonErrors(app: FastifyInstance): void {
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    let e: ApiError
    const ce = controlError(err)
    if (err instanceof ApiError) e = err
    else if (ce) e = ce
    else if (Array.isArray((err as { validation?: unknown }).validation)) e = validationError(err as unknown as Parameters<typeof validationError>[0])
    else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') e = new ApiError('PAYLOAD_TOO_LARGE')
    else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) e = new ApiError('BAD_REQUEST', err.message)
    else {
      req.log.error({ err, url: req.url }, 'request failed')
      e = new ApiError('INTERNAL')
    }
    if (e.status >= 400 && e.status < 500) req.log.info({ url: req.url, code: e.code }, e.message)
    reply.code(e.status).send(e.toJSON())
  })
  let patterns: { re: RegExp; methods: string[] }[] | null = null
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!
    // a known path with another method is 405 with Allow, as HTTP (and docs/errors.md) say
    patterns ??= routePatterns(registeredRoutes(app))
    const allow = [...new Set(patterns.filter((p) => p.re.test(path)).flatMap((p) => p.methods))]
    if (allow.length) {
      const e = new ApiError('METHOD_NOT_ALLOWED', `${req.method} ${path}: this route takes ${allow.join(', ')}`)
      return reply.code(e.status).header('allow', allow.join(', ')).send(e.toJSON())
    }
    const e = new ApiError('ROUTE_NOT_FOUND', `${req.method} ${path}`)
    reply.code(e.status).send(e.toJSON())
  })
}

/** Route URLs (`/v1/sources/:id/actions`, `/x/*`) as regular expressions, built once routes are fixed. */
function routePatterns(routes: readonly RouteOptions[]): { re: RegExp; methods: string[] }[] {
  // OPTIONS is CORS's catch-all preflight (it matches every path): not a sign the path exists
  return routes.flatMap((r) => {
    const methods = (Array.isArray(r.method) ? r.method : [r.method]).map(String).filter((m) => m !== 'OPTIONS')
    if (!methods.length) return []
    const body = r.url
      .split('/')
      .map((seg) => (seg === '*' ? '.*' : seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/')
    return [{ re: new RegExp(`^${body}/?$`), methods }]
  })
}

/** Adds routes to a fastify instance; modules (devices, recordings, calls) hand these to the daemon. */
export type RoutePlugin = (app: FastifyInstance) => void
