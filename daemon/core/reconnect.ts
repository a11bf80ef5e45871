/**
 * Reconnect as a policy: a pure function of the attempt number and cause, returning a delay in ms or
 * false (give up). The default is exponential backoff from 500 ms, capped, with jitter below the cap
 * so a site's many agents don't reconnect in lockstep after a server restart.
 */
export type ReconnectStrategy = (attempt: number, cause: Error) => number | false

export function backoff(opts: { capMs: number; baseMs?: number; jitter?: number; random?: () => number }): ReconnectStrategy {
  const base = opts.baseMs ?? 500
  const jitter = opts.jitter ?? 0.25
  const random = opts.random ?? Math.random
  return (attempt) => {
    const exp = Math.min(opts.capMs, base * 2 ** Math.min(attempt, 30))
    return Math.round(exp * (1 - jitter * random()))
  }
}

/**
 * Logging for a link that keeps failing: the first failure of a run at warn, then one summary a
 * minute (not one line per attempt, which would flood the journal during a long outage).
 */
export class FailureLog {
  private failingSince: number | null = null
  private lastSummary = 0
  private sinceSummary = 0

  constructor(
    private readonly log: { warn(obj: object, msg: string): void },
    private readonly words: { lost: string; failed: string; still: string },
    private readonly everyMs = 60_000,
  ) {}

  /** True while the current run of attempts has failed at least once. */
  get failing(): boolean {
    return this.failingSince !== null
  }

  /** `worked`: the link had worked before it failed (a new run of failures starts). */
  note(err: Error, worked: boolean, now = Date.now()): void {
    const msg = err.message
    if (worked || this.failingSince === null) {
      this.log.warn({ err: msg }, worked ? this.words.lost : this.words.failed)
      if (!worked) {
        this.failingSince = now
        this.lastSummary = now
        this.sinceSummary = 0
      }
      return
    }
    this.sinceSummary++
    if (now - this.lastSummary >= this.everyMs) {
      this.log.warn({ failures: this.sinceSummary, since: new Date(this.failingSince).toISOString(), lastError: msg }, `${this.words.still}: ${this.sinceSummary} more failed attempts`)
      this.lastSummary = now
      this.sinceSummary = 0
    }
  }

  /** The link works again. */
  recovered(): void {
    this.failingSince = null
  }
}
