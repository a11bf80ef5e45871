import type { EventBus } from '../../daemon/events.js'
import type { RoutePlugin } from '../../daemon/http.js'
import type { Logger } from '../../daemon/log.js'
import type { Metrics } from '../../daemon/metrics.js'
import type { RecordingStore } from '../../daemon/recordings/store.js'
import type { Source, SourceContext } from '../../daemon/sources/source.js'
import type { ChannelTable } from '../../daemon/table.js'
import type { BoxesConfig } from './config.js'

export interface BoxHubDeps {
  config: BoxesConfig
  log: Logger
  table: ChannelTable
  bus: EventBus
  metrics: Metrics
  /** the daemon's source map: each box is added as source `800hu-<mac12>` */
  sources: Map<string, Source>
  sourceContext: SourceContext
  recordings: RecordingStore
}

/** STUB (skeleton, owner: boxes helper): the 800hu box endpoint, device registry, commands, local 800hu API. */
export class BoxHub {
  constructor(readonly deps: BoxHubDeps) {}
  /** the box endpoint (upload_record paths) on the ingest listener */
  ingestRoutes(): RoutePlugin {
    return () => {}
  }
  /** GET /v1/devices, POST /v1/devices/:mac/commands, /voip/api/jsondata.html on the API listener */
  apiRoutes(): RoutePlugin {
    return () => {}
  }
  start(): void {}
  async stop(): Promise<void> {}
}
