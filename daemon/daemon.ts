import type { FastifyInstance } from 'fastify'
import { buildApi } from './api.js'
import { callRoutes } from './calls-api.js'
import type { Config } from './config.js'
import { EventBus } from './events.js'
import { createLogger, type Logger } from './log.js'
import { LqServer } from './lq-server.js'
import { Metrics } from './metrics.js'
import { PopHub } from './pops.js'
import type { RoutePlugin } from './http.js'
import { BoxHub } from '../devices/800hu/hub.js'
import { buildIngest } from './ingest.js'
import { RecordingStore } from './recordings/store.js'
import { WebhookOutbox } from './webhooks/outbox.js'
import { createSource } from './sources/create.js'
import { guoxinApiRoutes } from './sources/guoxin-api.js'
import { sourceMetrics, type Source, type SourceContext } from './sources/source.js'
import { entryJson, ChannelTable } from './table.js'
import { VERSION } from './version.js'

export { VERSION }

export interface DaemonOptions {
  log?: Logger
}

/** The whole process minus signal handling: table, events, sources, API, optional LQ server. */
export class Daemon {
  readonly log: Logger
  readonly table = new ChannelTable()
  readonly bus: EventBus
  readonly metrics = new Metrics()
  readonly pops: PopHub
  readonly sources = new Map<string, Source>()
  readonly api: FastifyInstance
  /** the device-facing listener, when `ingest` is configured */
  readonly ingest: FastifyInstance | null = null
  lqServer: LqServer | null = null
  readonly recordings: RecordingStore
  readonly boxes: BoxHub
  readonly webhooks: WebhookOutbox
  private readonly startedAt = Date.now()
  private stopping: Promise<void> | null = null

  constructor(
    readonly config: Config,
    opts: DaemonOptions = {},
  ) {
    this.log = opts.log ?? createLogger(config.log.level)
    // Ids start from the clock (µs) so a client's Last-Event-ID from before a restart is seen as a gap.
    this.bus = new EventBus(config.api.eventBuffer, { firstId: Date.now() * 1000 })
    this.pops = new PopHub(this.table, this.bus, this.log, this.metrics, { keep: config.pops.keep, timeZone: config.timeZone })
    this.table.onChange((c) => {
      const data = entryJson(c.entry) // a fresh object: add the change fields to it, no copy
      data.changed = c.changed
      data.previousState = c.previousState
      this.bus.publish('channel', data)
    })
    const sctx: SourceContext = { log: this.log, table: this.table, bus: this.bus, pops: this.pops, metrics: sourceMetrics(this.metrics), timeZone: config.timeZone }
    for (const sc of config.sources) this.sources.set(sc.id, createSource(sc, { ...sctx, log: this.log.child({ source: sc.id }) }))
    this.metrics.gauge('telbridge_channels', 'Channels in the table, by state', () =>
      Object.entries(this.table.countByState()).map(([state, n]) => [{ state }, n]),
    )
    this.metrics.gauge('telbridge_source_up', '1 when the source is connected', () =>
      [...this.sources.values()].map((s) => [{ source: s.id, type: s.type, status: s.status }, s.status === 'connected' ? 1 : 0]),
    )
    this.metrics.gauge('telbridge_events_published_total', 'Events published on the stream, by type', () =>
      [...this.bus.published].map(([type, n]) => [{ type }, n]),
    )
    this.metrics.gauge('telbridge_process_resident_memory_bytes', 'Resident set size', () => [[undefined, process.memoryUsage.rss()]])
    this.metrics.gauge('telbridge_uptime_seconds', 'Seconds since the daemon started', () => [[undefined, (Date.now() - this.startedAt) / 1000]])
    if (config.lqServer) this.lqServer = new LqServer(config.lqServer, this.pops, this.bus, this.log.child({ component: 'lq-server' }), this.metrics)
    const apiRoutes: RoutePlugin[] = [callRoutes({ sources: this.sources, log: this.log.child({ component: 'calls' }), bus: this.bus }), guoxinApiRoutes(this.sources)]
    const ingestRoutes: RoutePlugin[] = []
    for (const s of this.sources.values()) if (s.ingestRoutes) ingestRoutes.push((app) => s.ingestRoutes!(app))
    this.recordings = new RecordingStore({ dataDir: config.dataDir, config: config.recordings, log: this.log.child({ component: 'recordings' }), bus: this.bus, metrics: this.metrics })
    this.boxes = new BoxHub({ config: config.boxes, log: this.log.child({ component: '800hu' }), table: this.table, bus: this.bus, metrics: this.metrics, sources: this.sources, sourceContext: sctx, recordings: this.recordings, maxUploadBytes: config.recordings.maxBytes })
    this.webhooks = new WebhookOutbox({ dataDir: config.dataDir, hooks: config.webhooks, log: this.log.child({ component: 'webhooks' }), bus: this.bus, metrics: this.metrics })
    apiRoutes.push(this.recordings.apiRoutes(), this.boxes.apiRoutes(), this.webhooks.apiRoutes())
    ingestRoutes.push(this.boxes.ingestRoutes())
    if (config.ingest) this.ingest = buildIngest(config.ingest, this.log, ingestRoutes)
    else if (config.boxes.allow.length || config.boxes.autoRegister) this.log.warn('boxes are configured but there is no ingest listener: set "ingest" so the 800hu boxes can post to telbridge')
    this.api = buildApi({
      config: config.api,
      log: this.log,
      table: this.table,
      bus: this.bus,
      pops: this.pops,
      popsKeep: config.pops.keep,
      metrics: this.metrics,
      sources: this.sources,
      version: VERSION,
      startedAt: this.startedAt,
      routes: apiRoutes,
    })
  }

  /** Listen first (a port in use fails the start), then connect sources. */
  async start(): Promise<{ apiUrl: string; lqServerPort: number | null; ingestUrl: string | null }> {
    // recordings first: the index must be whole before a box or the API can see it
    await this.recordings.open()
    await this.webhooks.start()
    await this.api.listen({ host: this.config.api.host, port: this.config.api.port })
    if (this.ingest && this.config.ingest) await this.ingest.listen({ host: this.config.ingest.host, port: this.config.ingest.port })
    if (this.lqServer) await this.lqServer.start()
    for (const s of this.sources.values()) s.start()
    this.boxes.start()
    const apiUrl = listenUrl(this.api, this.config.api.host)
    const ingestUrl = this.ingest && this.config.ingest ? listenUrl(this.ingest, this.config.ingest.host) : null
    this.log.info({ url: apiUrl, ingest: ingestUrl, sources: this.sources.size }, 'telbridge started')
    return { apiUrl, lqServerPort: this.lqServer?.port ?? null, ingestUrl }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('telbridge stopping')
      await Promise.allSettled([...this.sources.values()].map((s) => s.stop()))
      await this.lqServer?.stop()
      await this.boxes.stop()
      await this.ingest?.close()
      await this.api.close()
      await this.webhooks.stop()
      await this.recordings.close()
      this.pops.close()
      this.log.info('telbridge stopped')
    })()
    return this.stopping
  }
}

/** The URL a listening fastify answers on; a wildcard host is shown as 127.0.0.1 (usable locally). */
function listenUrl(app: FastifyInstance, host: string): string {
  const addr = app.server.address()
  const port = addr && typeof addr === 'object' ? addr.port : 0
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  return `http://${h}:${port}`
}
