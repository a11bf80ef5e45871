import type { FastifyInstance } from 'fastify'
import type { IngestConfig } from './config.js'
import { createListener, installJsonErrors, type RoutePlugin } from './core/http.js'
import type { Logger } from './core/log.js'

/**
 * The device-facing listener (default 0.0.0.0:7701): separate from the loopback API because boxes
 * and vendor servers on the LAN must reach it, and they cannot send our bearer token. Each route
 * authenticates its caller its own way (box MAC allow-list, vendor callback checks). Request bodies
 * are timed (http-limits.ts) and connections capped at `maxConnections`.
 */
export function buildIngest(cfg: IngestConfig, log: Logger, routes: readonly RoutePlugin[]): FastifyInstance {
  const app = createListener(log, 'ingest', cfg, {
    title: 'telbridge ingest listener',
    description: 'The device-facing listener: 800hu boxes and vendor callbacks (LQ custURL/popCRURL, Guoxin push). Each route authenticates its caller its own way.',
  })
  // more connections than this are dropped by Node as they arrive (the server's 'drop' event)
  app.server.maxConnections = cfg.maxConnections
  installJsonErrors(app)
  // in a plugin, so the OpenAPI plugin (registered by createListener) sees each route
  app.register(async (app) => {
    for (const r of routes) r(app)
  })
  return app
}
