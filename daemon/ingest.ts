import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { IngestConfig } from './config.js'
import { EDGE_OPTIONS, installEdges } from './edges.js'
import { installJsonErrors, type RoutePlugin } from './http.js'
import { httpLimitOptions, installHttpLimits } from './http-limits.js'
import type { Logger } from './log.js'

/**
 * The device-facing listener (default 0.0.0.0:7701): separate from the loopback API because boxes
 * and vendor servers on the LAN must reach it, and they cannot send our bearer token. Each route
 * authenticates its caller its own way (box MAC allow-list, vendor callback checks). Request bodies
 * are timed (http-limits.ts) and connections capped at `maxConnections`.
 */
export function buildIngest(cfg: IngestConfig, log: Logger, routes: readonly RoutePlugin[]): FastifyInstance {
  const app = Fastify({
    loggerInstance: log.child({ component: 'ingest' }) as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1 << 20,
    return503OnClosing: true,
    forceCloseConnections: true,
    ...httpLimitOptions(cfg),
    ...EDGE_OPTIONS,
  })
  // first: the URL bound and the JSON depth check apply before any other hook
  installEdges(app)
  // more connections than this are dropped by Node as they arrive (the server's 'drop' event)
  app.server.maxConnections = cfg.maxConnections
  installHttpLimits(app, cfg)
  installJsonErrors(app)
  for (const r of routes) r(app)
  return app
}
