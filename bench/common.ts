/**
 * Shared by the benchmarks: result lines, medians, number formatting, the machine line.
 *
 * Each benchmark prints its own lines as it goes and, when run under bench/run.ts (an IPC channel is
 * open), also sends its results to the runner for the summary table. Numbers are printed as measured,
 * truncated, never rounded up: rates to whole units, times to µs, sizes to 0.1 MB (10^6 bytes).
 */
import { cpus, loadavg, totalmem } from 'node:os'

export interface Aim {
  /** '>=': higher is better; '<': lower is better */
  op: '>=' | '<'
  value: number
}

export interface Result {
  bench: string
  metric: string
  /** NaN (null once it has crossed the IPC channel as JSON): nothing to measure, e.g. no pop arrived */
  value: number | null
  unit: string
  aim?: Aim
  /** short free text shown after the value */
  note?: string
}

const results: Result[] = []
const wall0 = process.hrtime.bigint()
const cpu0 = process.cpuUsage()

/** "load average 0.12 0.30 0.25" (1, 5, 15 min): other work on the machine skews every number here */
export function load(): string {
  return `load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  if (n === 0) return NaN
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2
}

/** 1234567.9 → "1,234,567" (truncated, not rounded) */
export function int(n: number): string {
  return Math.trunc(n).toLocaleString('en-US')
}

/** a value in its unit, for printing */
export function fmtValue(value: number | null, unit: string): string {
  if (value === null || Number.isNaN(value)) return 'n/a'
  if (unit === 'ms') return fixed(value, 3)
  if (unit === 'MB') return fixed(value, 1)
  return int(value)
}

/** `digits` decimals, truncated (149.96 → "149.9", never "150.0") */
export function fixed(value: number, digits: number): string {
  const f = 10 ** digits
  return (Math.trunc(value * f) / f).toFixed(digits)
}

export function aimText(aim: Aim | undefined, unit: string): string {
  if (!aim) return ''
  return `(aim ${aim.op === '>=' ? '≥' : '<'} ${aim.value.toLocaleString('en-US')}${unit === 'ms' || unit === 'MB' ? ' ' + unit : ''})`
}

/** null: no aim; false also when there is no value (nothing was measured) */
export function meets(r: Result): boolean | null {
  if (!r.aim) return null
  if (r.value === null || Number.isNaN(r.value)) return false
  return r.aim.op === '>=' ? r.value >= r.aim.value : r.value < r.aim.value
}

/** Print one result line and keep it for the runner. */
export function report(r: Result): void {
  results.push(r)
  const ok = meets(r)
  const verdict = ok === null ? '' : ok ? '  ok' : '  MISSED'
  const line = `${r.bench.padEnd(14)}${r.metric.padEnd(42)}${fmtValue(r.value, r.unit).padStart(14)} ${r.unit.padEnd(12)}` + `${aimText(r.aim, r.unit)}${verdict}${r.note ? '  ' + r.note : ''}`
  process.stdout.write(line.trimEnd() + '\n')
}

/** Free text under a benchmark's results. */
export function say(text: string): void {
  process.stdout.write(text + '\n')
}

export function machine(): string {
  const c = cpus()
  const models = [...new Set(c.map((x) => x.model.trim()))].join(' / ')
  return `machine: ${models || 'unknown CPU'}, ${c.length} cores, Node ${process.version}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${process.platform}/${process.arch}`
}

/**
 * End of a benchmark: how much CPU this process got (CPU time / wall time: a single-threaded
 * benchmark well under 100% was waiting for a core), then hand the results to the runner, or
 * (run alone) print the machine line.
 */
export function finish(): void {
  const wall = Number(process.hrtime.bigint() - wall0) / 1e9
  const cpu = process.cpuUsage(cpu0)
  say(
    `  this process: ${wall.toFixed(1)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU (${(((cpu.user + cpu.system) / 1e6 / wall) * 100).toFixed(0)}% of one core, GC threads included); ${load()}`,
  )
  if (process.send) process.send({ results })
  else say('\n' + machine())
}

/** bytes → MB (10^6 bytes, as the aims are written) */
export function mb(bytes: number): number {
  return bytes / 1e6
}

/** CPU time (user + system, ms) that `fn` took on this thread. */
export function cpuMs(fn: () => void): number {
  const c0 = process.cpuUsage()
  fn()
  const c = process.cpuUsage(c0)
  return (c.user + c.system) / 1000
}

/** The p-th percentile (nearest rank) of unsorted samples. */
export function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!
}

/**
 * Control round trips, telbridge's overhead over a direct vendor call: each kind runs in blocks of
 * `block` sequential calls, kinds interleaved so load drift hits all alike; the first round is a
 * warm-up. Reports p50/p99 per kind and the difference to the kind named `direct`.
 */
export async function roundTrips(bench: string, label: string, kinds: Record<string, () => Promise<void>>, opts: { block?: number; blocks?: number } = {}): Promise<void> {
  const block = opts.block ?? 100
  const blocks = opts.blocks ?? 10
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]))
  for (let b = -1; b < blocks; b++) {
    for (const [name, fn] of Object.entries(kinds)) {
      for (let i = 0; i < block; i++) {
        const t0 = performance.now()
        await fn()
        if (b >= 0) samples[name]!.push(performance.now() - t0)
      }
      // let the poll each control schedules finish before the next block
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  const base50 = pct(samples.direct!, 50)
  const base99 = pct(samples.direct!, 99)
  for (const [name, xs] of Object.entries(samples)) {
    const p50 = pct(xs, 50)
    const p99 = pct(xs, 99)
    report({ bench, metric: `${label} ${name} p50`, value: p50, unit: 'ms', note: name === 'direct' ? `${xs.length} sequential calls` : `+${fixed(p50 - base50, 3)} ms over direct` })
    report({ bench, metric: `${label} ${name} p99`, value: p99, unit: 'ms', note: name === 'direct' ? '' : `+${fixed(p99 - base99, 3)} ms over direct` })
  }
}
