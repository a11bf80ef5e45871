import type { RoutePlugin } from './http.js'
import type { Logger } from './log.js'
import type { Source } from './sources/source.js'

/** STUB (skeleton): POST /v1/calls*, POST /v1/agents/:agent/presence and GET /v1/queues. */
export function callRoutes(_deps: { sources: ReadonlyMap<string, Source>; log: Logger }): RoutePlugin {
  return () => {}
}
