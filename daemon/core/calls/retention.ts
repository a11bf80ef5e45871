import type { Db } from '../db.js'
import type { Logger } from '../log.js'

const DAY_MS = 86400_000

export interface CallRetentionOptions {
  db: Db
  /** calls.keepDays; absent: nothing is ever deleted */
  keepDays: number | undefined
  log: Logger
  now?: () => number
  /** default hourly */
  intervalMs?: number
  /** rows per transaction; default 1000 (a few ms each, so the event loop is never held long) */
  batch?: number
}

/**
 * `calls.keepDays`: deletes the calls that ended (or started, when the end is unknown) more than
 * keepDays ago, with their vendor keys, in small transactions with a turn of the event loop between
 * them. Runs at start and hourly. A recording keeps its own term (`recordings.keepDays`).
 */
export class CallRetention {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<number> | null = null
  private stopped = false
  private readonly now: () => number
  private readonly pick
  private readonly delKeys
  private readonly delCalls

  constructor(private readonly o: CallRetentionOptions) {
    this.now = o.now ?? Date.now
    // ended >= started, so "started before the cutoff" narrows by the started index first
    this.pick = o.db.prepare('SELECT id FROM calls WHERE started_ms < @cutoff AND coalesce(ended_ms, started_ms) < @cutoff ORDER BY started_ms LIMIT @n').pluck()
    this.delKeys = o.db.prepare('DELETE FROM call_keys WHERE call_id = ?')
    this.delCalls = o.db.prepare('DELETE FROM calls WHERE id = ?')
  }

  start(): void {
    if (this.o.keepDays === undefined) return
    void this.sweep()
    this.timer = setInterval(() => void this.sweep(), this.o.intervalMs ?? 3600_000)
    this.timer.unref()
  }

  /** One pass; resolves with the number of calls deleted. */
  sweep(): Promise<number> {
    this.running ??= this.run().finally(() => (this.running = null))
    return this.running
  }

  private async run(): Promise<number> {
    const keepDays = this.o.keepDays
    if (keepDays === undefined) return 0
    const cutoff = this.now() - keepDays * DAY_MS
    const n = this.o.batch ?? 1000
    const t0 = performance.now()
    let removed = 0
    try {
      for (;;) {
        if (this.stopped) break
        const ids = this.pick.all({ cutoff, n }) as string[]
        if (!ids.length) break
        this.o.db.transaction(() => {
          for (const id of ids) {
            this.delKeys.run(id)
            this.delCalls.run(id)
          }
        })()
        removed += ids.length
        if (ids.length < n) break
        await new Promise((r) => setImmediate(r))
      }
    } catch (err) {
      // a closed database (stopping) or a locked one: the next hourly pass goes on from here
      if (!this.stopped) this.o.log.error({ err, removed }, 'call retention stopped early')
      return removed
    }
    if (removed) this.o.log.info({ removed, keepDays, before: new Date(cutoff).toISOString(), ms: Math.round(performance.now() - t0) }, 'retention removed old calls')
    return removed
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await this.running
  }
}
