import { prng } from '../../protocols/testing/chunks.js'
/**
 * The demo's day so far: past calls the vendor simulators that keep a call log (Yantong GetCDRList,
 * Guoxin CALL_LOG_QUERY, LQ vack getCustCall) hold when `npm run demo` starts, so the call log, the
 * agents and the page are full at once. Each module turns these into its vendor's own record format
 * in its demo(). Seeded: the same day each run (the clock aside).
 */

export type DemoOutcome = 'answered' | 'missed' | 'busy' | 'transferred'

export interface DemoCall {
  /** epoch ms */
  startMs: number
  direction: 'inbound' | 'outbound'
  /** the customer's number */
  phone: string
  /** the agent (staff id, extension, oper) who took or placed it */
  agent: string
  outcome: DemoOutcome
  ringSeconds: number
  /** 0 unless answered or transferred */
  talkSeconds: number
  /** transferred: the agent it went to (who talked on) */
  transferTo: string | null
}

/** A small seeded PRNG (mulberry32, the tests' own): the demo day is the same each run. */
export const demoRandom: (seed: number) => () => number = prng

/**
 * `count` calls spread over the `hours` before `now` but not before local midnight (oldest first,
 * none in the last 2 minutes so they never overlap the live calls): about 70 % answered, 15 % missed, 8 % busy, 7 % transferred;
 * two inbound calls in three; a few repeat callers so a phone search finds more than one call.
 */
export function demoDay(opts: { agents: readonly string[]; count: number; seed: number; now?: number; hours?: number }): DemoCall[] {
  const rnd = demoRandom(opts.seed)
  const now = opts.now ?? Date.now()
  const end = now - 120_000
  // today only (this machine's day: where the demo runs, its page is usually opened), unless today is under an hour old
  const midnight = new Date(now).setHours(0, 0, 0, 0)
  const hours = (opts.hours ?? 8) * 3600_000
  const span = end - midnight >= 3600_000 ? Math.min(hours, end - midnight) : hours
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const regulars = Array.from({ length: 6 }, () => phone(rnd))
  const calls: DemoCall[] = []
  for (let i = 0; i < opts.count; i++) {
    const startMs = Math.round(end - rnd() * span)
    const r = rnd()
    const outcome: DemoOutcome = r < 0.7 ? 'answered' : r < 0.85 ? 'missed' : r < 0.93 ? 'busy' : 'transferred'
    const direction = outcome === 'transferred' || rnd() < 0.67 ? 'inbound' : 'outbound'
    const agent = pick(opts.agents)
    const others = opts.agents.filter((a) => a !== agent)
    const talks = outcome === 'answered' || outcome === 'transferred'
    calls.push({
      startMs,
      direction,
      phone: rnd() < 0.2 ? pick(regulars) : phone(rnd),
      agent,
      outcome,
      ringSeconds: outcome === 'busy' ? 1 + Math.floor(rnd() * 3) : 3 + Math.floor(rnd() * (outcome === 'missed' ? 27 : 12)),
      talkSeconds: talks ? 20 + Math.floor(rnd() * rnd() * 600) : 0,
      transferTo: outcome === 'transferred' && others.length ? pick(others) : null,
    })
  }
  return calls.sort((a, b) => a.startMs - b.startMs)
}

/** A mainland mobile or a Nanjing landline. */
function phone(rnd: () => number): string {
  if (rnd() < 0.25) return '025' + String(Math.floor(rnd() * 1e8)).padStart(8, '0')
  return '1' + ['38', '39', '58', '86', '37', '55'][Math.floor(rnd() * 6)] + String(Math.floor(rnd() * 1e8)).padStart(8, '0')
}

/** Local wall-clock `YYYY-MM-DD HH:MM:SS` at a fixed UTC offset (China: +8, no DST), as the vendors write times. */
export function wallClock(ms: number, offsetHours = 8): string {
  const d = new Date(ms + offsetHours * 3600_000)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`
}
