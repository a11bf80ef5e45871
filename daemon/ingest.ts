import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { IngestConfig } from './config.js'
import { EDGE_OPTIONS, installEdges } from './edges.js'
import { installJsonErrors, type RoutePlugin } from './http.js'
import type { Logger } from './log.js'

/**
 * The device-facing listener (default 0.0.0.0:7701): separate from the loopback API because boxes
 * and vendor servers on the LAN must reach it, and they cannot send our bearer token. Each route
 * authenticates its caller its own way (box MAC allow-list, vendor callback checks).
 */
export function buildIngest(_cfg: IngestConfig, log: Logger, routes: readonly RoutePlugin[]): FastifyInstance {
  const app = Fastify({
    loggerInstance: log.child({ component: 'ingest' }) as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1 << 20,
    return503OnClosing: true,
    forceCloseConnections: true,
    ...EDGE_OPTIONS,
  })
  installEdges(app)
  installJsonErrors(app)
  for (const r of routes) r(app)
  return app
}
