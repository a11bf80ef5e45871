import type { FastifyInstance } from 'fastify'
import { buildApi } from './api.js'
import { callRoutes } from './calls-api.js'
import { sourcesRoutes } from './sources-api.js'
import { ingestWarnings, type Config } from './config.js'
import { EventBus } from './core/events.js'
import type { RoutePlugin } from './core/http.js'
import { createLogger, type Logger } from './core/log.js'
import { Metrics } from './core/metrics.js'
import type { ModuleContext, ModuleService, SourceRegistry } from './core/module.js'
import { AgentRegistry } from './core/calls/agents.js'
import { uploadReport } from './core/calls/inputs.js'
import { cdrRoutes } from './core/calls/routes.js'
import { CallTracker } from './core/calls/tracker.js'
import type { CallSink } from './core/calls/types.js'
import { openDb, type Db } from './core/db.js'
import { PopHub } from './core/pops.js'
import { recordingRoutes } from './core/recordings/routes.js'
import { RecordingStore } from './core/recordings/store.js'
import { sourceMetrics, type Source, type SourceContext, type SourceStatus } from './core/source.js'
import { entryJson, ChannelTable } from './core/table.js'
import { VERSION } from './core/version.js'
import { buildIngest } from './ingest.js'
import { MODULES, moduleOfType } from './registry.js'
import { WebhookOutbox } from './webhooks/outbox.js'
import type { BoxHub } from '../devices/800hu/hub.js'
import type { BoxService } from '../devices/800hu/index.js'
import type { LqServer } from './vendors/lq-socket/server.js'

export { VERSION }

export interface DaemonOptions {
  log?: Logger
}

/** The daemon's sources by id; modules that create sources at run time (800hu boxes) add theirs. */
class Sources extends Map<string, Source> implements SourceRegistry {
  add(source: Source): void {
    if (this.has(source.id)) throw new Error(`source id ${source.id} is taken by a configured source; rename that source`)
    this.set(source.id, source)
  }
}

/** The whole process minus signal handling: table, events, sources, modules, API, ingest listener. */
export class Daemon {
  readonly log: Logger
  readonly table = new ChannelTable()
  readonly bus: EventBus
  readonly metrics = new Metrics()
  readonly pops: PopHub
  readonly sources: Map<string, Source> & SourceRegistry = new Sources()
  readonly api: FastifyInstance
  /** the device-facing listener, when `ingest` is configured */
  readonly ingest: FastifyInstance | null = null
  readonly recordings: RecordingStore
  readonly webhooks: WebhookOutbox
  /** the call log: one record per call, fed by the table, pops, uploads and the sources' reports */
  readonly calls: CallTracker
  readonly agents: AgentRegistry
  /** `<dataDir>/telbridge.db`, open between start() and stop() */
  db: Db | null = null
  /** the modules' services by module name (800hu: the box hub; lq-socket: the legacy LQ server) */
  readonly services = new Map<string, ModuleService>()
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
    this.agents = new AgentRegistry({ log: this.log.child({ component: 'agents' }), bus: this.bus, table: this.table })
    this.calls = new CallTracker({
      log: this.log.child({ component: 'calls' }),
      bus: this.bus,
      metrics: this.metrics,
      matchWindowMs: config.calls.matchWindowSeconds * 1000,
      onAgent: (a) => this.agents.report(a),
      onAgents: (source, list) => this.agents.reportAll(source, list),
    })
    this.agents.attach(this.calls)
    // after the channel event above: a client sees the line move, then the call it makes
    this.table.onChange((c) => this.calls.onChannel(c))
    this.pops.onPop((r) => this.calls.onPop(r))
    const calls: CallSink = this.calls
    const metrics = sourceMetrics(this.metrics)
    const sourceContext = (id: string): SourceContext => ({ log: this.log.child({ source: id }), table: this.table, bus: this.bus, pops: this.pops, metrics, timeZone: config.timeZone, calls })
    for (const sc of config.sources) {
      const kind = moduleOfType(sc.type)?.source
      if (!kind) throw new Error(`no module for source type ${sc.type}`) // the config schema refuses it first
      this.sources.set(sc.id, kind.create(sc, sourceContext(sc.id)))
      metrics.reconnects.init({ source: sc.id }) // 0 from the start, not absent until the first failure
    }
    this.metrics.collectProcess()
    this.metrics.gauge('telbridge_channels', 'Channels in the table, by state', () => Object.entries(this.table.countByState()).map(([state, n]) => [{ state }, n]), ['state'])
    // status is not a label here (a label that changes starts a new series); telbridge_source_status has it
    this.metrics.gauge('telbridge_source_up', '1 when the source is connected', () => [...this.sources.values()].map((s) => [{ source: s.id, type: s.type }, s.status === 'connected' ? 1 : 0]), [
      'source',
      'type',
    ])
    this.metrics.gauge('telbridge_source_status', '1 for the status the source is in, 0 for the others (a fixed set of series per source)', () => sourceStatusSeries(this.sources.values()), [
      'source',
      'status',
    ])
    this.metrics.counterFrom('telbridge_events_published_total', 'Events published on the stream, by type', () => [...this.bus.published].map(([type, n]) => [{ type }, n]), ['type'])
    this.metrics.gauge('telbridge_process_resident_memory_bytes', 'Resident set size (process_resident_memory_bytes has it too)', () => [[undefined, process.memoryUsage.rss()]])
    this.metrics.gauge('telbridge_uptime_seconds', 'Seconds since the daemon started', () => [[undefined, (Date.now() - this.startedAt) / 1000]])
    this.recordings = new RecordingStore({
      dataDir: config.dataDir,
      config: config.recordings,
      log: this.log.child({ component: 'recordings' }),
      bus: this.bus,
      metrics: this.metrics,
      boxes: MODULES.find((m) => m.recordingBoxes)?.recordingBoxes,
      // an upload is the device's record of a finished call
      onStored: (rec) => {
        const r = uploadReport(rec)
        if (r) void this.calls.report(r)
      },
    })
    this.webhooks = new WebhookOutbox({
      dataDir: config.dataDir,
      hooks: config.webhooks,
      log: this.log.child({ component: 'webhooks' }),
      bus: this.bus,
      metrics: this.metrics,
      timeZone: config.timeZone,
    })
    const apiRoutes: RoutePlugin[] = [
      callRoutes({ sources: this.sources, log: this.log.child({ component: 'calls' }), bus: this.bus }),
      sourcesRoutes({ sources: this.sources, log: this.log.child({ component: 'actions' }), bus: this.bus }),
    ]
    const ingestRoutes: RoutePlugin[] = []
    for (const s of this.sources.values()) if (s.ingestRoutes) ingestRoutes.push((app) => s.ingestRoutes!(app))
    const mctx: ModuleContext = {
      config,
      log: this.log,
      table: this.table,
      bus: this.bus,
      pops: this.pops,
      metrics: this.metrics,
      recordings: this.recordings,
      sources: this.sources,
      sourceContext,
      timeZone: config.timeZone,
    }
    for (const m of MODULES) {
      if (m.apiRoutes) apiRoutes.push(m.apiRoutes(mctx))
      const service = m.service?.(mctx)
      if (!service) continue
      this.services.set(m.name, service)
      if (service.apiRoutes) apiRoutes.push(service.apiRoutes())
      if (service.ingestRoutes) ingestRoutes.push(service.ingestRoutes())
    }
    apiRoutes.push(recordingRoutes(this.recordings), this.webhooks.apiRoutes(), cdrRoutes({ db: () => this.db, agents: this.agents, timeZone: config.timeZone }))
    if (config.ingest) this.ingest = buildIngest(config.ingest, this.log, ingestRoutes)
    for (const w of ingestWarnings(config)) this.log.warn(`no ingest listener: ${w}`)
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
      ingestOpenApi: this.ingest ? () => this.ingest!.swagger() : undefined,
    })
  }

  /** the 800hu box hub (tests and tools look at its queues) */
  get boxes(): BoxHub {
    return (this.services.get('800hu') as BoxService).hub
  }

  /** the LQ-Connect server for legacy desktops, when `lqServer` is configured */
  get lqServer(): LqServer | null {
    return (this.services.get('lq-socket') as LqServer | undefined) ?? null
  }

  /** Listen first (a port in use fails the start), then connect sources. */
  async start(): Promise<{ apiUrl: string; lqServerPort: number | null; ingestUrl: string | null }> {
    this.db = openDb(this.config.dataDir)
    this.calls.open(this.db)
    this.agents.open(this.db)
    // recordings first: the index must be whole before a box or the API can see it
    await this.recordings.open()
    await this.webhooks.start()
    await this.api.listen({ host: this.config.api.host, port: this.config.api.port })
    if (this.ingest && this.config.ingest) await this.ingest.listen({ host: this.config.ingest.host, port: this.config.ingest.port })
    // services first (the LQ server must listen before its port is reported), then the sources
    for (const svc of this.services.values()) await svc.start()
    for (const s of this.sources.values()) s.start()
    const apiUrl = listenUrl(this.api, this.config.api.host)
    const ingestUrl = this.ingest && this.config.ingest ? listenUrl(this.ingest, this.config.ingest.host) : null
    this.log.info({ url: apiUrl, ingest: ingestUrl, sources: this.sources.size }, 'telbridge started')
    return { apiUrl, lqServerPort: this.lqServer?.port ?? null, ingestUrl }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('telbridge stopping')
      await Promise.allSettled([...this.sources.values()].map((s) => s.stop()))
      for (const svc of this.services.values()) await svc.stop()
      await this.ingest?.close()
      await this.api.close()
      await this.webhooks.stop()
      await this.recordings.close()
      this.calls.close()
      this.agents.close()
      this.db?.close()
      this.db = null
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

const SOURCE_STATUSES: readonly SourceStatus[] = ['connecting', 'connected', 'reconnecting', 'failed', 'down', 'stopped']

/** Every status of every source, 1 for the current one: the series set stays fixed as statuses change. */
function* sourceStatusSeries(sources: Iterable<Source>): Iterable<[{ source: string; status: string }, number]> {
  for (const s of sources) for (const status of SOURCE_STATUSES) yield [{ source: s.id, status }, s.status === status ? 1 : 0]
}
