/**
 * End-to-end pop → SSE latency.
 *
 * The daemon runs in a child process (`node dist/daemon/cli.js run --config <tmp>`, API on a port
 * found free by binding port 0 first), so it does not share its event loop with the clients. This
 * process runs the LQ simulator (rate 0: pops are sent from here, paced on a 1 ms timer) and the SSE
 * clients (plain http.get on /v1/events, one connection each). Each pop is a realistic simulator pop
 * (t1v3/t1v4/t1v5 in rotation, GBK Chinese `da` in most t1v5) whose `sn=` is process.hrtime.bigint()
 * taken just before it is formatted and written (CLOCK_MONOTONIC: the same clock in every process).
 * A client takes hrtime once per received chunk and computes receive − send for every `event: pop`
 * in it, scanning the raw bytes (no JSON parse) to keep the client side cheap.
 *
 * Scenarios: the issue's (100 clients, 2000 pops/s, 10 s measured after 1 s of warm-up); the same
 * 100 clients at 200 pops/s (the daemon's latency when the machine is not saturated); and, as the
 * baseline, a bare relay child (bench/lib/sse-relay.ts: length-byte framing, one small event per pop,
 * no parse, no table, no bus) at 2000 pops/s, measured the same way.
 *
 * Env (exploring only; the aim is for the defaults): BENCH_E2E_CLIENTS, BENCH_E2E_RATE,
 * BENCH_DAEMON_FLAGS (node flags for the daemon child, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p").
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { get, type ClientRequest, type IncomingMessage } from 'node:http'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { formatPop, type PopFormat } from '../protocols/lq-pop/index.js'
import { LqSimulator } from '../daemon/vendors/lq-socket/simulator.js'
import { children, freePort } from './children.js'
import { finish, fixed, int, load, report, say } from './common.js'

const BENCH = 'e2e'
const CLIENTS = Number(process.env.BENCH_E2E_CLIENTS ?? 100)
const RATE = Number(process.env.BENCH_E2E_RATE ?? 2000)
const LOW_RATE = 200
const AIM_P99_MS = 5
const FORMATS: PopFormat[] = ['t1v3', 't1v4', 't1v5']
const CLI = fileURLToPath(new URL('../daemon/cli.js', import.meta.url))
const RELAY = fileURLToPath(new URL('./lib/sse-relay.js', import.meta.url))

let clkTck = 100
let clkTckKnown = false
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  clkTckKnown = true
} catch {
  // keep 100 (Linux's usual value); said in the output
}

function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (s: string) => (body += s))
      res.on('end', () => {
        try {
          resolve(JSON.parse(body))
        } catch (e) {
          reject(e)
        }
      })
    })
    req.on('error', reject)
  })
}

/** CPU seconds (user+system) a child has used so far, from /proc (Linux); null elsewhere. */
function childCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / clkTck // utime, stime (fields 14, 15)
  } catch {
    return null
  }
}

const POP_MARK = Buffer.from('\nevent: pop\n')
const SERIAL = Buffer.from('"serial":"')

/** One SSE connection: receive − send of every pop, split into warm-up and measured. */
class Client {
  count = 0 // measured pops received
  warm = 0 // warm-up pops received
  closed = false
  closedAt = 0 // performance.now()
  readonly lat: Float64Array
  readonly warmLat: Float64Array
  private carry: Buffer | null = null
  private req: ClientRequest | null = null

  constructor(
    capacity: number,
    warmCapacity: number,
    private readonly phase: { measureFromNs: number },
  ) {
    this.lat = new Float64Array(capacity)
    this.warmLat = new Float64Array(warmCapacity)
  }

  open(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.req = get(url, { agent: false, headers: { accept: 'text/event-stream' } }, (res: IncomingMessage) => {
        if (res.statusCode !== 200) return reject(new Error(`GET /v1/events: ${res.statusCode}`))
        let first = true
        res.on('data', (chunk: Buffer) => {
          const now = Number(process.hrtime.bigint())
          this.feed(chunk, now)
          if (first) {
            first = false
            resolve()
          }
        })
        res.on('close', () => this.markClosed())
      })
      this.req.on('error', (e) => (this.closed ? undefined : reject(e)))
    })
  }

  private markClosed(): void {
    if (this.closed) return
    this.closed = true
    this.closedAt = performance.now()
  }

  /**
   * Scans the raw bytes: each `\nevent: pop\n` is followed, in the same event, by the record's
   * `"serial":"<send ns>"`. A pop event cut by the chunk end is carried over to the next chunk.
   */
  private feed(chunk: Buffer, now: number): void {
    const b = this.carry ? Buffer.concat([this.carry, chunk]) : chunk
    this.carry = null
    let pos = 0
    for (;;) {
      const ev = b.indexOf(POP_MARK, pos)
      if (ev < 0) {
        // keep a tail that may hold the start of the next mark
        const keep = Math.max(pos, b.length - (POP_MARK.length - 1))
        if (keep < b.length) this.carry = Buffer.from(b.subarray(keep))
        break
      }
      const k = b.indexOf(SERIAL, ev + POP_MARK.length)
      const q = k < 0 ? -1 : b.indexOf(0x22, k + SERIAL.length)
      if (q < 0) {
        this.carry = Buffer.from(b.subarray(ev))
        break
      }
      let sent = 0
      for (let j = k + SERIAL.length; j < q; j++) sent = sent * 10 + (b[j]! - 48)
      if (sent >= this.phase.measureFromNs) {
        if (this.count < this.lat.length) this.lat[this.count] = now - sent
        this.count++
      } else {
        if (this.warm < this.warmLat.length) this.warmLat[this.warm] = now - sent
        this.warm++
      }
      pos = q + 1
    }
  }

  close(): void {
    this.markClosed()
    this.req?.destroy()
  }
}

interface Scenario {
  label: string
  clients: number
  rate: number
  warmupS: number
  measureS: number
  child: (apiPort: number, lqPort: number, dir: string) => ChildProcess
}

interface Outcome {
  sc: Scenario
  warmSent: number
  sent: number
  sendSeconds: number
  windowSeconds: number
  /** all clients were cut off before the end: sending stopped early */
  cutShort: boolean
  lat: Float64Array // sorted, ns
  warmLat: Float64Array // sorted, ns
  perClient: number[]
  perClientWarm: number[]
  closed: number
  /** ms after the first warm-up pop that clients were cut off (min, max), when any were */
  closedAfterMs: [number, number] | null
  childCpu: number | null
  ownCpu: number
  loopDelayP99Ms: number
  childLog: string[]
}

function sortedConcat(arrays: Float64Array[]): Float64Array {
  let n = 0
  for (const a of arrays) n += a.length
  const out = new Float64Array(n)
  let o = 0
  for (const a of arrays) {
    out.set(a, o)
    o += a.length
  }
  return out.sort()
}

async function runScenario(sc: Scenario): Promise<Outcome> {
  const sim = new LqSimulator({ port: 0, rate: 0, trySeconds: 5, agents: ['801', '802', '803', '804'], timeZone: 'Asia/Shanghai', channels: 64 }, undefined, 11)
  const lqPort = await sim.start()
  const apiPort = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'telbridge-bench-'))
  const child = sc.child(apiPort, lqPort, dir)
  children.add(child)
  const childLog: string[] = []
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (s: string) => {
    for (const line of s.split('\n')) if (line.trim()) childLog.push(line)
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const base = `http://127.0.0.1:${apiPort}`
  const clients: Client[] = []
  try {
    // ready: the API answers and the LQ link is up
    const readyBy = Date.now() + 15_000
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${sc.label} exited early (code ${child.exitCode}): ${childLog.slice(-5).join('\n')}`)
      try {
        const h = (await getJson(`${base}/v1/health`)) as { sources?: { connected?: number } }
        if (h.sources?.connected === 1 && sim.clients.size === 1) break
      } catch {
        // not listening yet
      }
      if (Date.now() > readyBy) throw new Error(`${sc.label} not ready after 15 s`)
      await sleep(50)
    }

    const phase = { measureFromNs: Infinity }
    for (let i = 0; i < sc.clients; i++) clients.push(new Client(sc.rate * sc.measureS * 2, sc.rate * sc.warmupS * 2, phase))
    await Promise.all(clients.map((c) => c.open(`${base}/v1/events`)))

    let seq = 0
    const sendOne = (): void => {
      const fields = sim.randomFields()
      fields.serial = String(process.hrtime.bigint())
      sim.sendPop(formatPop(fields, FORMATS[seq++ % FORMATS.length]!), null)
    }
    /** paced: every 1 ms tick sends what is due since `from`; stops early once every client is cut off */
    const pace = (seconds: number): Promise<{ sent: number; seconds: number; cutShort: boolean }> =>
      new Promise((resolve) => {
        const from = performance.now()
        const total = sc.rate * seconds
        let sent = 0
        const timer = setInterval(() => {
          const due = Math.min(total, Math.floor(((performance.now() - from) * sc.rate) / 1000))
          while (sent < due) {
            sendOne()
            sent++
          }
          const cutShort = clients.every((c) => c.closed)
          if (sent >= total || cutShort) {
            clearInterval(timer)
            resolve({ sent, seconds: (performance.now() - from) / 1000, cutShort })
          }
        }, 1)
      })

    const sendStart = performance.now()
    const warmup = await pace(sc.warmupS)
    await sleep(200)
    phase.measureFromNs = Number(process.hrtime.bigint())
    const loop = monitorEventLoopDelay({ resolution: 1 })
    const cpu0 = childCpuSeconds(child.pid!)
    const own0 = process.cpuUsage()
    const w0 = performance.now()
    loop.enable()
    const measured = warmup.cutShort ? { sent: 0, seconds: 0, cutShort: true } : await pace(sc.measureS)
    // let the last pops arrive (at most 5 s)
    const waitUntil = Date.now() + 5000
    while (Date.now() < waitUntil && clients.some((c) => !c.closed && c.count < measured.sent)) await sleep(10)
    loop.disable()
    const cpu1 = childCpuSeconds(child.pid!)
    const own = process.cpuUsage(own0)
    const windowSeconds = (performance.now() - w0) / 1000
    const closedTimes = clients.filter((c) => c.closed).map((c) => c.closedAt - sendStart)

    return {
      sc,
      warmSent: warmup.sent,
      sent: measured.sent,
      sendSeconds: measured.seconds,
      windowSeconds,
      cutShort: measured.cutShort,
      lat: sortedConcat(clients.map((c) => c.lat.subarray(0, Math.min(c.count, c.lat.length)))),
      warmLat: sortedConcat(clients.map((c) => c.warmLat.subarray(0, Math.min(c.warm, c.warmLat.length)))),
      perClient: clients.map((c) => c.count),
      perClientWarm: clients.map((c) => c.warm),
      closed: closedTimes.length,
      closedAfterMs: closedTimes.length ? [Math.min(...closedTimes), Math.max(...closedTimes)] : null,
      childCpu: cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null,
      ownCpu: (own.user + own.system) / 1e6,
      loopDelayP99Ms: loop.percentile(99) / 1e6,
      childLog,
    }
  } finally {
    for (const c of clients) c.close()
    const k0 = performance.now()
    child.kill('SIGTERM')
    // a profiled daemon (BENCH_DAEMON_FLAGS) gets time to exit on its own, so its profile is written
    const graceMs = process.env.BENCH_DAEMON_FLAGS ? 60_000 : 5000
    await Promise.race([exited, sleep(graceMs)])
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      say(`  (${sc.label}: the child had not exited ${graceMs / 1000} s after SIGTERM, so it was killed; the daemon's own forced exit is at 4.5 s)`)
    } else if (performance.now() - k0 > 1000) say(`  (${sc.label}: the child took ${fixed((performance.now() - k0) / 1000, 2)} s to exit after SIGTERM)`)
    children.delete(child)
    await sim.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

const ms = (ns: number) => ns / 1e6

function describe(o: Outcome, aim: boolean): void {
  const { label, clients, rate } = o.sc
  const none = o.lat.length === 0 ? 'no measured pop arrived' : undefined
  report({ bench: BENCH, metric: `${label} p50`, value: ms(pct(o.lat, 50)), unit: 'ms', note: none })
  report({ bench: BENCH, metric: `${label} p99`, value: ms(pct(o.lat, 99)), unit: 'ms', aim: aim ? { op: '<', value: AIM_P99_MS } : undefined, note: none })
  report({ bench: BENCH, metric: `${label} p99.9`, value: ms(pct(o.lat, 99.9)), unit: 'ms', note: none })
  report({ bench: BENCH, metric: `${label} max`, value: ms(o.lat[o.lat.length - 1] ?? NaN), unit: 'ms', note: none })
  const min = o.perClient.length ? Math.min(...o.perClient) : 0
  const max = o.perClient.length ? Math.max(...o.perClient) : 0
  const complete = o.perClient.filter((c) => c === o.sent).length
  report({
    bench: BENCH,
    metric: `${label} pops/client (min)`,
    value: min,
    unit: `of ${o.sent}`,
    note: complete === clients && o.sent > 0 ? `all ${clients} clients got all ${o.sent}` : `NOT ALL: ${complete}/${clients} clients got all ${o.sent}; per client min ${min}, max ${max}`,
  })
  const lines = [
    `  ${clients} clients, ${rate} pops/s: sent ${o.warmSent} warm-up pops, then ${o.sent} measured pops in ${fixed(o.sendSeconds, 2)} s` +
      (o.sendSeconds > 0 ? ` (${int(o.sent / o.sendSeconds)}/s)` : '') +
      `; ${int(o.lat.length)} latency samples` +
      (o.cutShort ? '; sending stopped early: every client had been cut off' : ''),
    `  CPU over the ${fixed(o.windowSeconds, 2)} s measured window (incl. the wait for the last pops): ${label.split(',')[0]} child ` +
      `${o.childCpu === null ? 'n/a' : fixed((o.childCpu / o.windowSeconds) * 100, 0) + '% of a core'}, ` +
      `this process (simulator + ${clients} clients) ${fixed((o.ownCpu / o.windowSeconds) * 100, 0)}% of a core; ` +
      `this process's event-loop delay p99 ${fixed(o.loopDelayP99Ms, 3)} ms`,
  ]
  if (o.closed) {
    const [a, b] = o.closedAfterMs!
    const wMin = Math.min(...o.perClientWarm)
    const wMax = Math.max(...o.perClientWarm)
    lines.push(
      `  ${o.closed}/${clients} connections were closed by the server ${fixed(a / 1000, 2)}–${fixed(b / 1000, 2)} s after the first pop was sent; ` +
        `warm-up pops received per client ${wMin}–${wMax} of ${o.warmSent}` +
        (o.warmLat.length
          ? `; latency of the warm-up pops that arrived: p50 ${fixed(ms(pct(o.warmLat, 50)), 3)} ms, p99 ${fixed(ms(pct(o.warmLat, 99)), 3)} ms, max ${fixed(ms(o.warmLat[o.warmLat.length - 1]!), 3)} ms`
          : ''),
    )
  }
  const warn = o.childLog.filter((l) => /"level":(40|50|60)/.test(l))
  if (warn.length) {
    const reasons = new Map<string, number>()
    for (const l of warn) {
      const m = /"msg":"([^"]*)"/.exec(l)
      const k = m ? m[1]! : l.slice(0, 120)
      reasons.set(k, (reasons.get(k) ?? 0) + 1)
    }
    lines.push(`  the child logged ${warn.length} warning/error line(s): ${[...reasons].map(([k, n]) => `${n}× "${k}"`).join('; ')}`)
  }
  say(lines.join('\n'))
}

function daemonChild(apiPort: number, lqPort: number, dir: string): ChildProcess {
  const cfg = join(dir, 'config.json')
  writeFileSync(
    cfg,
    JSON.stringify({
      api: { host: '127.0.0.1', port: apiPort },
      log: { level: 'warn' },
      timeZone: 'Asia/Shanghai',
      sources: [{ id: 'lq', type: 'lq-socket', host: '127.0.0.1', port: lqPort, oper: '801' }],
    }),
  )
  const flags = (process.env.BENCH_DAEMON_FLAGS ?? '').split(' ').filter(Boolean)
  return spawn(process.execPath, [...flags, CLI, 'run', '--config', cfg], { stdio: ['ignore', 'pipe', 'inherit'] })
}

say(
  `${BENCH}: pop → SSE latency (send time in sn=, receive − send per pop per client). The daemon runs in a child process; ` +
    `the simulator and the SSE clients run in this process. Both processes share this machine's ${cpus().length} cores ` +
    `(${load()} at start), so the clients' own work is inside these numbers.` +
    (clkTckKnown ? '' : ' (CLK_TCK unknown: CPU% assumes 100 ticks/s)'),
)

const main = await runScenario({ label: `daemon, ${CLIENTS} cl, ${RATE}/s`, clients: CLIENTS, rate: RATE, warmupS: 1, measureS: 10, child: daemonChild })
describe(main, true)

const low = await runScenario({ label: `daemon, ${CLIENTS} cl, ${LOW_RATE}/s`, clients: CLIENTS, rate: LOW_RATE, warmupS: 1, measureS: 2.5, child: daemonChild })
describe(low, false)

const relay = await runScenario({
  label: `baseline relay, ${RATE}/s`,
  clients: CLIENTS,
  rate: RATE,
  warmupS: 1,
  measureS: 2.5,
  child: (apiPort, lqPort) => spawn(process.execPath, [RELAY, String(apiPort), String(lqPort)], { stdio: ['ignore', 'pipe', 'inherit'] }),
})
describe(relay, false)
say(`  (baseline relay: one ~60-byte event per pop, no parsing, no table, no bus, no backlog limit; the daemon sends two events per pop, channel + pop, ~1 KB together)`)
finish()
