import { collectDefaultMetrics, Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, Registry } from 'prom-client'
import { VERSION } from './version.js'

/**
 * Metrics on prom-client: its registry writes the exposition format (promtool-clean), its default
 * collectors give process_* and nodejs_*. This thin layer keeps the calls the daemon already makes
 * (counter(…).inc(labels), gauge(…, collect)) so registrations stay one line each. Label names are
 * declared with the metric: prom-client refuses a label it was not told about, which keeps the
 * series set known.
 */

type Labels = Record<string, string>

export class Counter {
  private warned = false
  constructor(
    private readonly c: PromCounter,
    readonly name: string,
  ) {}
  inc(labels?: Labels, n = 1): void {
    try {
      if (labels) this.c.inc(labels, n)
      else this.c.inc(n)
    } catch (err) {
      // a label the registration did not declare: a bug, but counting must never fail a request
      if (!this.warned) process.emitWarning(`metric ${this.name}: ${(err as Error).message}`)
      this.warned = true
    }
  }
  /** The current value of one series (for tests). */
  async get(labels: Labels = {}): Promise<number> {
    const { values } = await this.c.get()
    const want = Object.entries(labels)
    return values.find((v) => want.length === Object.keys(v.labels).length && want.every(([k, x]) => v.labels[k] === x))?.value ?? 0
  }
  /** Show the series at 0 before the first increment (a source's failures from its start). */
  init(labels: Labels): void {
    this.c.inc(labels, 0)
  }
}

export class Histogram {
  constructor(private readonly h: PromHistogram) {}
  observe(labels: Labels, seconds: number): void {
    this.h.observe(labels, seconds)
  }
}

type Collect = () => Iterable<readonly [Labels | undefined, number]>

export class Metrics {
  readonly registry = new Registry()
  readonly contentType = this.registry.contentType
  private processCollected = false

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    // asked twice (a second SourceContext of the same daemon): the same series, as before prom-client
    const had = this.registry.getSingleMetric(name)
    if (had instanceof PromCounter) return new Counter(had, name)
    return new Counter(new PromCounter({ name, help, labelNames, registers: [this.registry] }), name)
  }

  /** A value read at scrape time (table sizes, connected clients). */
  gauge(name: string, help: string, collect: Collect, labelNames: readonly string[] = []): void {
    this.registry.removeSingleMetric(name) // registered again: the newest reader wins
    new PromGauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        if (labelNames.length) this.reset()
        for (const [l, v] of collect()) {
          if (l) this.set(l, v)
          else this.set(v)
        }
      },
    })
  }

  /** A counter kept elsewhere (a plain number that only grows), read at scrape time. */
  counterFrom(name: string, help: string, collect: Collect, labelNames: readonly string[] = []): void {
    this.registry.removeSingleMetric(name)
    new PromCounter({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset()
        for (const [l, v] of collect()) {
          if (l) this.inc(l, v)
          else this.inc(v)
        }
      },
    })
  }

  histogram(name: string, help: string, labelNames: readonly string[], buckets: number[]): Histogram {
    const had = this.registry.getSingleMetric(name)
    if (had instanceof PromHistogram) return new Histogram(had)
    return new Histogram(new PromHistogram({ name, help, labelNames, buckets, registers: [this.registry] }))
  }

  /**
   * process_* and nodejs_* from prom-client's default collectors, and telbridge_build_info. Once per
   * registry, by the daemon only: the event-loop monitor they start is not for every test registry.
   */
  collectProcess(): void {
    if (this.processCollected) return
    this.processCollected = true
    collectDefaultMetrics({ register: this.registry })
    // gauges named _total (promtool refuses them); nodejs_active_handles{type} and the like stay
    for (const n of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(n)
    const info = new PromGauge({ name: 'telbridge_build_info', help: 'Always 1; the telbridge version and Node.js version as labels', labelNames: ['version', 'node'], registers: [this.registry] })
    info.set({ version: VERSION, node: process.version }, 1)
  }

  /** The exposition text (text format 0.0.4). */
  render(): Promise<string> {
    return this.registry.metrics()
  }
}
