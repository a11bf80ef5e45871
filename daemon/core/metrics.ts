/**
 * Prometheus text exposition (format 0.0.4), hand-written: a few counters and gauges don't need a
 * client library. Counters are keyed by their label values; gauges are collected at scrape time.
 */

type Labels = Record<string, string>

function labelText(labels: Labels | undefined): string {
  if (!labels) return ''
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`)
  return parts.length ? `{${parts.join(',')}}` : ''
}

export class Counter {
  private readonly values = new Map<string, number>()
  /** label values → rendered label text, so the hot path does no escaping */
  private readonly keys = new Map<string, string>()
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  private key(labels: Labels | undefined): string {
    if (!labels) return ''
    let raw = ''
    for (const k in labels) raw += k + '\u0000' + labels[k] + '\u0001'
    let key = this.keys.get(raw)
    if (key === undefined) this.keys.set(raw, (key = labelText(labels)))
    return key
  }
  inc(labels?: Labels, n = 1): void {
    const key = this.key(labels)
    this.values.set(key, (this.values.get(key) ?? 0) + n)
  }
  get(labels?: Labels): number {
    return this.values.get(this.key(labels)) ?? 0
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`
    if (this.values.size === 0) out += `${this.name} 0\n`
    for (const [k, v] of this.values) out += `${this.name}${k} ${v}\n`
    return out
  }
}

export class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly collect: () => Iterable<[Labels | undefined, number]>,
  ) {}
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n`
    for (const [labels, v] of this.collect()) out += `${this.name}${labelText(labels)} ${v}\n`
    return out
  }
}

export class Metrics {
  private readonly items: (Counter | Gauge)[] = []
  counter(name: string, help: string): Counter {
    const c = new Counter(name, help)
    this.items.push(c)
    return c
  }
  gauge(name: string, help: string, collect: () => Iterable<[Labels | undefined, number]>): Gauge {
    const g = new Gauge(name, help, collect)
    this.items.push(g)
    return g
  }
  render(): string {
    return this.items.map((i) => i.render()).join('')
  }
}
