import { readdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { BusEvent, EventBus } from '../core/events.js'
import type { RoutePlugin } from '../core/http.js'
import { jsonResponse } from '../core/route-schema.js'
import type { Logger } from '../core/log.js'
import type { Counter, Metrics } from '../core/metrics.js'
import { checkWebhooks, sourceMatches, webhookId, type WebhookConfig } from './config.js'
import { deliver, type Outcome } from './deliver.js'
import { CallPushes, eventNotification, type Notification } from './notify.js'
import { CorruptEntry, DiskQueue } from './queue.js'

/**
 * Webhook push (seed 003 §2.10.4) through a durable outbox: every notification a webhook wants is
 * written to `<dataDir>/outbox/<webhook id>/` (fsync'd) before it counts as queued, then delivered
 * strictly in order, one at a time, retried with capped exponential backoff until the receiver
 * answers 2xx; only then is it removed. A receiver that is down for hours gets everything once it is
 * back, in order, across daemon restarts. Delivery is at-least-once: a crash between the receiver's
 * answer and the unlink sends that entry again, with the same `id`.
 */

interface OutboxMetrics {
  queued: Counter
  delivered: Counter
  failed: Counter
  dropped: Counter
  refused: Counter
  corrupt: Counter
}

export interface WebhookStatus {
  id: string
  url: string
  backlog: number
  backlogBytes: number
  /** failed attempts in a row on the current head entry */
  failures: number
  lastError: string | null
  lastDeliveredAt: string | null
}

export class WebhookOutbox {
  private readonly runners: HookRunner[]
  private readonly pushes: CallPushes
  /** event types some webhook takes: everything else is passed over with one lookup */
  private readonly wanted: ReadonlySet<string>
  private readonly has800hu: boolean
  private unsubscribe: (() => void) | null = null
  private readonly dir: string

  constructor(readonly deps: { dataDir: string; hooks: readonly WebhookConfig[]; log: Logger; bus: EventBus; metrics: Metrics; timeZone?: string }) {
    checkWebhooks(deps.hooks)
    this.pushes = new CallPushes(deps.timeZone)
    this.dir = resolve(deps.dataDir, 'outbox')
    const m = deps.metrics
    const metrics: OutboxMetrics = {
      queued: m.counter('telbridge_webhook_queued_total', 'Notifications written to a webhook outbox', ['webhook']),
      delivered: m.counter('telbridge_webhook_delivered_total', 'Notifications a webhook answered with 2xx', ['webhook']),
      failed: m.counter('telbridge_webhook_failed_attempts_total', 'Delivery attempts that failed (retried), by reason', ['webhook', 'reason']),
      dropped: m.counter('telbridge_webhook_dropped_total', 'Notifications not queued: outbox full or not writable', ['webhook', 'reason']),
      refused: m.counter('telbridge_webhook_refused_total', 'Notifications answered 2xx with a vendor code other than 0 (not retried)', ['webhook']),
      corrupt: m.counter('telbridge_webhook_corrupt_total', 'Outbox files skipped as corrupt (moved to corrupt/)', ['webhook']),
    }
    this.runners = deps.hooks.map((h) => new HookRunner(h, join(this.dir, webhookId(h)), deps.log.child({ webhook: webhookId(h) }), metrics))
    this.wanted = wantedEvents(deps.hooks)
    this.has800hu = deps.hooks.some((h) => h.format === '800hu')
    m.gauge('telbridge_webhook_backlog', 'Notifications waiting in a webhook outbox', () => this.runners.map((r) => [{ webhook: r.id }, r.queue.length]), ['webhook'])
    m.gauge('telbridge_webhook_backlog_bytes', 'Bytes of notifications waiting in a webhook outbox', () => this.runners.map((r) => [{ webhook: r.id }, r.queue.bytes]), ['webhook'])
    m.gauge(
      'telbridge_webhook_oldest_seconds',
      'Age of the oldest waiting notification (0: none)',
      () =>
        this.runners.map((r) => {
          const seq = r.queue.oldestSeq()
          return [{ webhook: r.id }, seq === null ? 0 : Math.max(0, (Date.now() - seq / 1000) / 1000)]
        }),
      ['webhook'],
    )
  }

  async start(): Promise<void> {
    await this.reportOrphans()
    for (const r of this.runners) await r.open()
    for (const r of this.runners) r.start()
    if (this.runners.length) this.unsubscribe = this.deps.bus.subscribe((e) => this.onEvent(e))
  }

  /** Stop listening, finish writing what was published before, abort deliveries in flight (they stay queued). */
  async stop(): Promise<void> {
    this.unsubscribe?.()
    this.unsubscribe = null
    await Promise.all(this.runners.map((r) => r.stop()))
  }

  status(): WebhookStatus[] {
    return this.runners.map((r) => r.status())
  }

  /** `GET /v1/webhooks`: each webhook's backlog and last error (behind the API token like the rest). */
  apiRoutes(): RoutePlugin {
    return (app) => {
      app.get('/v1/webhooks', { schema: { summary: "Each webhook's backlog and last error", tags: ['webhooks'], response: jsonResponse() } }, async () => ({ webhooks: this.status() }))
    }
  }

  /** Resolves when every outbox is empty and nothing is being written (tests, shutdown tools). */
  async drained(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.runners.some((r) => r.busy)) {
      if (Date.now() > deadline) throw new Error(`webhook outbox not drained within ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  private onEvent(e: BusEvent): void {
    if (!this.wanted.has(e.type)) return
    // telbridge format: the event as it is, one notification shared by every hook that takes it
    let shared: Notification | null = null
    for (const r of this.runners) {
      if (r.hook.format !== 'telbridge' || !r.hook.events.includes(e.type)) continue
      shared ??= eventNotification(e.type, e.data, e.time)
      if (sourceMatches(r.hook.sources, shared.source)) r.enqueue(shared)
    }
    if (!this.has800hu) return
    // 800hu format: the push built from the call record (CallPushes)

    if (e.type === 'channel') return this.pushes.onChannel(e.data)
    if (e.type === 'recording' || e.type === 'cdr') return this.pushes.onStored(e.data)
    const notes = this.pushes.onCall(e.type, e.data, e.time)
    for (const n of notes) {
      for (const r of this.runners) if (r.hook.format === '800hu' && r.hook.events.includes(n.event) && sourceMatches(r.hook.sources, n.source)) r.enqueue(n)
    }
  }

  /** Outboxes of webhooks no longer configured are kept, not delivered: say so once at start. */
  private async reportOrphans(): Promise<void> {
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch {
      return
    }
    const known = new Set(this.runners.map((r) => r.id))
    for (const name of names) {
      if (known.has(name)) continue
      const files = await readdir(join(this.dir, name)).catch(() => [] as string[])
      const waiting = files.filter((f) => /^\d{17}\.json$/.test(f)).length
      if (waiting)
        this.deps.log.warn(
          { dir: join(this.dir, name), waiting },
          `outbox of a webhook that is not configured (id ${name}): ${waiting} notification(s) kept, not sent; configure a webhook with "id": "${name}" to send them`,
        )
    }
  }
}

/** One webhook: its queue, a writer that batches appends, and a delivery loop. */
class HookRunner {
  readonly id: string
  readonly queue: DiskQueue
  private pending: Notification[] = []
  private writing: Promise<void> | null = null
  private loop: Promise<void> | null = null
  private wake: (() => void) | null = null
  private readonly abort = new AbortController()
  private stopped = false
  private failures = 0
  private lastError: string | null = null
  private lastDeliveredAt: number | null = null
  private droppedStreak = 0
  private readonly labels: { webhook: string }

  constructor(
    readonly hook: WebhookConfig,
    dir: string,
    private readonly log: Logger,
    private readonly m: OutboxMetrics,
  ) {
    this.id = webhookId(hook)
    this.labels = { webhook: this.id }
    this.queue = new DiskQueue(dir, { maxEntries: hook.maxEntries, maxBytes: hook.maxBytes }, log)
  }

  get busy(): boolean {
    return this.pending.length > 0 || this.writing !== null || this.queue.length > 0
  }

  async open(): Promise<void> {
    let r: Awaited<ReturnType<DiskQueue['open']>>
    try {
      r = await this.queue.open()
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      throw new Error(`webhook ${this.id}: cannot use outbox directory ${this.queue.dir}: ${e.code ?? e.message}`)
    }
    if (r.corrupt) this.m.corrupt.inc(this.labels, r.corrupt)
    if (r.loaded) this.log.info({ waiting: r.loaded, bytes: this.queue.bytes }, 'webhook outbox has notifications from before the restart; delivering them first')
  }

  start(): void {
    this.loop = this.deliverLoop().catch((err) => this.log.error({ err }, 'webhook delivery loop failed; restart telbridge'))
  }

  async stop(): Promise<void> {
    this.stopped = true
    // what was published before the stop is written before the stop completes
    while (this.writing) await this.writing
    this.abort.abort()
    this.wake?.()
    await this.loop
  }

  enqueue(n: Notification): void {
    if (this.stopped) return
    this.pending.push(n)
    this.writing ??= this.writeLoop()
  }

  private async writeLoop(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending
      this.pending = []
      const r = await this.queue.append(batch)
      if (r.accepted) {
        this.m.queued.inc(this.labels, r.accepted)
        if (this.droppedStreak) {
          this.log.warn({ dropped: this.droppedStreak }, 'webhook outbox accepting notifications again')
          this.droppedStreak = 0
        }
        this.wake?.()
      }
      if (r.full) this.dropped('full', r.full, `outbox full (maxEntries ${this.hook.maxEntries}, maxBytes ${this.hook.maxBytes}): new notifications are dropped, queued ones kept`)
      if (r.failed) this.dropped('write_failed', r.failed, `cannot write to the outbox (${r.error?.code ?? r.error?.message}): notifications dropped`, r.error)
    }
    this.writing = null
  }

  private dropped(reason: string, n: number, msg: string, err?: unknown): void {
    this.m.dropped.inc({ webhook: this.id, reason }, n)
    const before = this.droppedStreak
    this.droppedStreak += n
    // the first drop of a streak and every 1000th after it: enough to notice, not a log flood
    if (before === 0 || Math.floor(before / 1000) !== Math.floor(this.droppedStreak / 1000)) this.log.error({ err, droppedSoFar: this.droppedStreak, backlog: this.queue.length }, msg)
  }

  private async deliverLoop(): Promise<void> {
    while (!this.stopped) {
      const meta = this.queue.head()
      if (!meta) {
        await new Promise<void>((r) => (this.wake = r))
        this.wake = null
        continue
      }
      let entry
      try {
        entry = await this.queue.read(meta)
      } catch (err) {
        if (!(err instanceof CorruptEntry)) throw err
        this.m.corrupt.inc(this.labels)
        await this.queue.quarantine(meta, err.message)
        continue
      }
      let out: Outcome
      try {
        out = await deliver(this.hook, entry.notification, this.abort.signal)
      } catch (err) {
        if (this.stopped) return // aborted by stop: still queued, sent after the restart
        out = { ok: false, reason: 'unreachable', detail: String(err) }
      }
      if (out.ok) {
        await this.queue.remove(meta)
        this.m.delivered.inc(this.labels)
        this.lastDeliveredAt = Date.now()
        if (out.refused) {
          this.m.refused.inc(this.labels)
          this.log.warn({ id: entry.notification.id, event: entry.notification.event, answer: out.refused }, 'webhook answered 2xx but refused the notification (vendor code); not retried')
        }
        if (this.failures) this.log.info({ failedAttempts: this.failures, backlog: this.queue.length }, 'webhook reachable again; delivering the backlog')
        this.failures = 0
        this.lastError = null
        continue
      }
      this.failures++
      this.lastError = out.detail
      this.m.failed.inc({ webhook: this.id, reason: out.reason === 'status' ? `http_${out.status}` : out.reason })
      const delay = backoffMs(this.failures, this.hook.retryBaseSeconds, this.hook.retryMaxSeconds)
      const fields = { attempt: this.failures, error: out.detail, retryInMs: delay, backlog: this.queue.length }
      // the first failure and every 10th: an outage of an hour logs a handful of lines, not hundreds
      if (this.failures === 1 || this.failures % 10 === 0) this.log.warn(fields, 'webhook delivery failed; will retry')
      else this.log.debug(fields, 'webhook delivery failed; will retry')
      await sleep(delay, this.abort.signal)
    }
  }

  status(): WebhookStatus {
    return {
      id: this.id,
      url: redact(this.hook.url),
      backlog: this.queue.length,
      backlogBytes: this.queue.bytes,
      failures: this.failures,
      lastError: this.lastError,
      lastDeliveredAt: this.lastDeliveredAt === null ? null : new Date(this.lastDeliveredAt).toISOString(),
    }
  }
}

/** The bus events the outbox listens to: what telbridge-format hooks take, and what the 800hu push is built from. */
function wantedEvents(hooks: readonly WebhookConfig[]): Set<string> {
  const out = new Set<string>()
  for (const h of hooks) {
    if (h.format === 'telbridge') for (const e of h.events) out.add(e)
    else {
      // box lines (channel) and stored uploads (recording, cdr) feed the hang-up and recording pushes
      for (const e of ['channel', 'recording', 'cdr', 'call.ended', 'call.updated']) out.add(e)
      if (h.events.includes('call')) out.add('call.started')
      if (h.events.includes('answer')) out.add('call.answered')
    }
  }
  return out
}

/** base · 2^(n-1), capped, with "equal jitter" (half fixed, half random) so many daemons do not retry in step. */
export function backoffMs(failures: number, baseSeconds: number, maxSeconds: number, rnd: () => number = Math.random): number {
  const d = Math.min(maxSeconds, baseSeconds * 2 ** Math.min(failures - 1, 40)) * 1000
  return Math.round(d / 2 + (d / 2) * rnd())
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const t = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
    function done() {
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })
}

/** query values may hold tokens: show the URL without them */
function redact(url: string): string {
  try {
    const u = new URL(url)
    for (const k of [...u.searchParams.keys()]) u.searchParams.set(k, '…')
    return u.toString()
  } catch {
    return url
  }
}
