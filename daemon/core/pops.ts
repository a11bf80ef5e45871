import { tryParsePop, type Pop, type PopError } from '../../protocols/lq-pop/index.js'
import type { EventBus } from './events.js'
import type { Logger } from './log.js'
import type { Metrics, Counter, Histogram } from './metrics.js'
import type { ChannelTable, ChannelPatch } from './table.js'

export interface PopRecord {
  /** the event id the pop went out under */
  eventId: number
  source: string
  receivedAt: string
  /** the table entry it touched, if any */
  channelId: string | null
  pop: Pop
}

export type PopListener = (record: PopRecord, payload: Buffer) => void

export interface PopHubOptions {
  keep: number
  timeZone?: string
  now?: () => number
}

/**
 * Where every source's pop bytes go: parse, keep the recent ones, publish `pop` / `pop.invalid`,
 * and move the channel table. A bad pop never throws out of here: it is logged, counted and
 * published, and the connection carries on.
 */
export class PopHub {
  /** ring of the last `keep` pops */
  private readonly recent: (PopRecord | undefined)[]
  private recentHead = 0
  private recentCount = 0
  private readonly listeners: PopListener[] = []
  private readonly popsTotal: Counter
  private readonly invalidTotal: Counter
  private readonly latency: Histogram
  /** channels a pop set, and when a pop-only source should stop believing it */
  private readonly expiry = new Map<string, { at: number; source: string; channel: string; updatedAt: number }>()
  private readonly sweeper: NodeJS.Timeout
  private readonly now: () => number

  constructor(
    private readonly table: ChannelTable,
    private readonly bus: EventBus,
    private readonly log: Logger,
    metrics: Metrics,
    private readonly opts: PopHubOptions,
  ) {
    this.now = opts.now ?? Date.now
    this.recent = new Array<PopRecord | undefined>(opts.keep)
    this.popsTotal = metrics.counter('telbridge_pops_total', 'Pops received and parsed, by source and format', ['source', 'format'])
    this.invalidTotal = metrics.counter('telbridge_pops_invalid_total', 'Pops that could not be parsed, by source and error code', ['source', 'code'])
    this.latency = metrics.histogram(
      'telbridge_pop_latency_seconds',
      'From a pop reaching the hub to its event published and its listeners run, by source',
      ['source'],
      [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25],
    )
    this.sweeper = setInterval(() => this.sweep(), 1000)
    this.sweeper.unref()
  }

  onPop(fn: PopListener): () => void {
    this.listeners.push(fn)
    return () => {
      const i = this.listeners.indexOf(fn)
      if (i >= 0) this.listeners.splice(i, 1)
    }
  }

  /** Raw pop bytes (GBK) from a source. */
  receive(source: string, payload: Buffer, opts: { timeZone?: string; popStateSeconds?: number } = {}): PopRecord | null {
    const t0 = performance.now()
    const r = tryParsePop(payload, { timeZone: opts.timeZone ?? this.opts.timeZone })
    if (!r.ok) {
      this.invalid(source, r.error)
      return null
    }
    return this.accept(source, r.pop, payload, opts.popStateSeconds ?? 0, t0)
  }

  invalid(source: string, error: PopError): void {
    this.invalidTotal.inc({ source, code: error.code })
    this.log.warn({ source, code: error.code, field: error.field, raw: error.raw }, `invalid pop: ${error.message}`)
    this.bus.publish('pop.invalid', { source, code: error.code, field: error.field ?? null, message: error.message, raw: error.raw })
  }

  /** A parsed pop (sources that parse themselves, e.g. HTTP callbacks, come in here). */
  accept(source: string, pop: Pop, payload: Buffer, popStateSeconds: number, t0 = performance.now()): PopRecord {
    this.popsTotal.inc({ source, format: pop.format })
    const chId = this.applyToTable(source, pop, popStateSeconds)
    const receivedAt = new Date(this.now()).toISOString()
    // the record carries its own event id, so it is set before publishing serialises it
    const record: PopRecord = { eventId: this.bus.nextEventId, source, receivedAt, channelId: chId, pop }
    this.bus.publish('pop', record)
    this.recent[this.recentHead] = record
    this.recentHead = (this.recentHead + 1) % this.opts.keep
    if (this.recentCount < this.opts.keep) this.recentCount++
    for (const fn of this.listeners) {
      try {
        fn(record, payload)
      } catch (err) {
        this.log.error({ err, source }, 'pop listener failed')
      }
    }
    this.latency.observe({ source }, (performance.now() - t0) / 1000)
    return record
  }

  /** Newest first. */
  list(opts: { limit: number; source?: string }): PopRecord[] {
    const out: PopRecord[] = []
    for (let i = 1; i <= this.recentCount && out.length < opts.limit; i++) {
      const r = this.recent[(this.recentHead - i + this.opts.keep) % this.opts.keep]!
      if (opts.source === undefined || r.source === opts.source) out.push(r)
    }
    return out
  }

  /** An inbound pop means the line is ringing, an outbound one that it is dialing. */
  private applyToTable(source: string, pop: Pop, popStateSeconds: number): string | null {
    if (pop.format === 't2' || pop.channel === null || pop.direction === null) return null
    const channel = String(pop.channel)
    const patch: ChannelPatch = {
      state: pop.direction === 'inbound' ? 'ringing' : 'dialing',
      phone: pop.phone,
      direction: pop.direction,
      agent: pop.agent,
      callId: pop.callId,
      // merged: a polled source's own detail (the channel kind a hang-up chooses its service by) stays
      vendor: { ...this.table.lookup(source, channel)?.vendor, popFormat: pop.format, popKind: pop.kind, serial: pop.serial, member: pop.member },
    }
    this.table.update(source, channel, patch)
    const entry = this.table.lookup(source, channel)!
    if (popStateSeconds > 0) {
      this.expiry.set(entry.id, { at: this.now() + popStateSeconds * 1000, source, channel, updatedAt: entry.updatedAt })
    }
    return entry.id
  }

  /** Pop-only sources never see the hang-up: after popStateSeconds the channel is `unknown`, not forever ringing. */
  sweep(): void {
    const t = this.now()
    for (const [id, x] of this.expiry) {
      if (x.at > t) continue
      this.expiry.delete(id)
      const e = this.table.get(id)
      if (e && e.updatedAt === x.updatedAt && (e.state === 'ringing' || e.state === 'dialing')) {
        this.table.update(x.source, x.channel, { state: 'unknown' })
      }
    }
  }

  close(): void {
    clearInterval(this.sweeper)
  }
}
