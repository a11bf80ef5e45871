import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './paths.js'
import type { FastifyInstance } from 'fastify'
import { buildApi } from './api.js'
import type { Config, SourceConfig } from './config.js'
import { EventBus } from './events.js'
import { createLogger, type Logger } from './log.js'
import { LqServer } from './lq-server.js'
import { Metrics } from './metrics.js'
import { PopHub } from './pops.js'
import { LqSocketSource } from './sources/lq-socket.js'
import { sourceMetrics, type Source, type SourceContext } from './sources/source.js'
import { entryJson, ChannelTable } from './table.js'

export const VERSION: string = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

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
  lqServer: LqServer | null = null
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
    })
  }

  /** Listen first (a port in use fails the start), then connect sources. */
  async start(): Promise<{ apiUrl: string; lqServerPort: number | null }> {
    await this.api.listen({ host: this.config.api.host, port: this.config.api.port })
    if (this.lqServer) await this.lqServer.start()
    for (const s of this.sources.values()) s.start()
    const addr = this.api.server.address()
    const port = addr && typeof addr === 'object' ? addr.port : this.config.api.port
    const host = this.config.api.host.includes(':') ? `[${this.config.api.host}]` : this.config.api.host
    const apiUrl = `http://${host}:${port}`
    this.log.info({ url: apiUrl, sources: this.sources.size }, 'telbridge started')
    return { apiUrl, lqServerPort: this.lqServer?.port ?? null }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('telbridge stopping')
      await Promise.allSettled([...this.sources.values()].map((s) => s.stop()))
      await this.lqServer?.stop()
      await this.api.close()
      this.pops.close()
      this.log.info('telbridge stopped')
    })()
    return this.stopping
  }
}

export function createSource(sc: SourceConfig, ctx: SourceContext): Source {
  switch (sc.type) {
    case 'lq-socket':
      return new LqSocketSource(sc, ctx)
  }
}
