import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { UnsupportedAction, VendorRefused, VendorTimeout } from './control.js'
import { EDGE_OPTIONS, installEdges } from './edges.js'
import { ApiError } from './errors.js'
import { httpLimitOptions, installHttpLimits, type HttpLimitOptions } from './http-limits.js'
import type { Logger } from './log.js'

/**
 * A fastify instance as both listeners (local API, ingest) start: JSON error shape, the edge checks
 * first (URL bound, JSON depth, the parser's own refusals), then the body timers, so a body is timed
 * whatever the later hooks decide. Routes and other hooks come after.
 */
export function createListener(log: Logger, component: string, limits: HttpLimitOptions): FastifyInstance {
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
  return app
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
    else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') e = new ApiError('PAYLOAD_TOO_LARGE')
    else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) e = new ApiError('BAD_REQUEST', err.message)
    else {
      req.log.error({ err, url: req.url }, 'request failed')
      e = new ApiError('INTERNAL')
    }
    if (e.status >= 400 && e.status < 500) req.log.info({ url: req.url, code: e.code }, e.message)
    reply.code(e.status).send(e.toJSON())
  })
  app.setNotFoundHandler((req, reply) => {
    const e = new ApiError('ROUTE_NOT_FOUND', `${req.method} ${req.url.split('?')[0]}`)
    reply.code(e.status).send(e.toJSON())
  })
}

/** Adds routes to a fastify instance; modules (devices, recordings, calls) hand these to the daemon. */
export type RoutePlugin = (app: FastifyInstance) => void
