/**
 * ChannelTable with 100,000 channels (100 sources × 1,000 channels).
 *
 *  - memory, each in a fresh process started with --expose-gc, RSS and heap read after a full GC
 *    before and after creating 100,000 channels with pop-like fields (phone, agent, call id, a
 *    vendor object): in a bare ChannelTable with a no-op listener, and through a real Daemon's table
 *    (built, not started), whose listener publishes 100,000 channel events (the replay ring keeps
 *    the last 10,000)
 *  - updates/s on a bare table with one no-op listener: state changes that really change (each
 *    channel steps idle → ringing → talking → idle, so every update emits a change and each
 *    per-state Set stays at ~1/3 of the channels); the full patch PopHub sends per pop (new vendor
 *    object each time); updates that change nothing (no event)
 *  - the same state changes on a hot set: 1,000 of the 100,000 channels, over and over
 *  - the same state changes on the Daemon's table: its listener builds the channel event and
 *    publishes it on the EventBus (JSON + SSE wire text; no SSE client connected)
 *  - lookups/s: lookup(source, channel) and get(id)
 *  - baseline in the same run: a bare Map<string, {state}> doing the same state changes
 * Channels are visited in a fixed shuffled order. Each round runs blocks of 10,000 operations (each
 * variant has its own loop) until ≥ 200 ms have passed; the median of 5 rounds (after 1 warm-up
 * round) is reported, with the spread.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { createLogger } from '../daemon/core/log.js'
import { ChannelTable, type ChannelPatch, type ChannelState } from '../daemon/core/table.js'
import { finish, fixed, int, load, mb, median, report, say } from './common.js'

/** what a fresh process measures for one table flavour (see memChild) */
interface MemResult {
  before: NodeJS.MemoryUsage
  after: NodeJS.MemoryUsage
  createNs: number
  size: number
}

const SOURCES = 100
const PER_SOURCE = 1000
const N = SOURCES * PER_SOURCE

// ids as they reach the table: source ids from config, channels as String(pop.channel)
const srcOf: string[] = []
const chOf: string[] = []
for (let s = 0; s < SOURCES; s++) {
  for (let c = 1; c <= PER_SOURCE; c++) {
    srcOf.push(`lq-${String(s).padStart(2, '0')}`)
    chOf.push(String(c))
  }
}
const popPatch = (i: number, k: number, state: ChannelState): ChannelPatch => ({
  state,
  phone: `13${String((i * 7919 + k * 104729) % 1e9).padStart(9, '0')}`,
  direction: state === 'dialing' ? 'outbound' : 'inbound',
  agent: String(801 + (i % 50)),
  callId: String(100000 + k * N + i),
  vendor: { popFormat: 't1v5', popKind: state === 'dialing' ? 'manual-outbound' : 'inbound', serial: String(100000 + k * N + i), member: null },
})

const memMode = process.env.BENCH_TABLE_MEM
if (memMode) memChild(memMode)
else await main()

/**
 * In a fresh process (started with --expose-gc): RSS and heap after a full GC, before and after
 * creating N channels, in a bare ChannelTable with a no-op listener ('bare') or through a Daemon's
 * table, whose listener publishes every creation on the EventBus ('daemon').
 */
function memChild(mode: string): void {
  const gc = (globalThis as { gc?: () => void }).gc
  if (typeof gc !== 'function') throw new Error('memory child needs --expose-gc')
  let table: ChannelTable
  let daemon: Daemon | null = null
  if (mode === 'daemon') {
    daemon = new Daemon(parseConfig({ log: { level: 'fatal' }, timeZone: 'Asia/Shanghai' }), { log: createLogger('silent') })
    table = daemon.table
  } else {
    table = new ChannelTable()
    table.onChange(() => {})
  }
  gc()
  gc()
  const before = process.memoryUsage()
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) table.update(srcOf[i]!, chOf[i]!, popPatch(i, 0, 'idle'))
  const createNs = Number(process.hrtime.bigint() - t0)
  gc()
  gc()
  const after = process.memoryUsage()
  const r: MemResult = { before, after, createNs, size: table.size }
  process.send!(r)
  daemon?.pops.close()
  process.exit(0)
}

function measureMemory(mode: 'bare' | 'daemon'): Promise<MemResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, BENCH_TABLE_MEM: mode },
    })
    let got: MemResult | null = null
    child.on('message', (m: MemResult) => (got = m))
    child.on('exit', (code) => (got ? resolve(got) : reject(new Error(`memory child (${mode}) exited with ${code}`))))
  })
}

async function main(): Promise<void> {
  const BENCH = 'table'
  const BLOCK = 10_000
  const ROUNDS = 5
  const MIN_ROUND_MS = 200
  const AIM_UPDATES = 2_000_000
  const AIM_MB = 150
  const ids = Array.from({ length: N }, (_, i) => `${srcOf[i]}:${chOf[i]}`)
  // fixed shuffled visiting order (LCG, so every run is the same)
  const order = new Uint32Array(N)
  for (let i = 0; i < N; i++) order[i] = i
  let seed = 12345
  const rnd = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32
  for (let i = N - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    const t = order[i]!
    order[i] = order[j]!
    order[j] = t
  }
  /**
   * `block(start)` does BLOCK operations on the channels order[start … start+BLOCK) (its own loop, so
   * no shared call site between variants); called until MIN_ROUND_MS have passed. Returns ops/s.
   */
  let cursor = 0
  let opsDone = 0
  const rate = (block: (start: number) => void): number => {
    let ops = 0
    let ns = 0
    const t0 = process.hrtime.bigint()
    do {
      block(cursor)
      cursor = (cursor + BLOCK) % N
      ops += BLOCK
      ns = Number(process.hrtime.bigint() - t0)
    } while (ns < MIN_ROUND_MS * 1e6)
    opsDone += ops
    return (ops / ns) * 1e9
  }
  const measure = (block: (start: number) => void): { med: number; lo: number; hi: number } => {
    rate(block) // warm-up round
    const xs: number[] = []
    for (let r = 0; r < ROUNDS; r++) xs.push(rate(block))
    return { med: median(xs), lo: Math.min(...xs), hi: Math.max(...xs) }
  }
  const spread = (m: { lo: number; hi: number }) => `[rounds ${int(m.lo)}…${int(m.hi)}]`

  // each channel steps round the cycle: every update changes its state
  const CYCLE: ChannelState[] = ['idle', 'ringing', 'talking']
  const step = new Uint32Array(N)
  const nextState = (i: number): ChannelState => CYCLE[++step[i]! % 3]!

  say(`${BENCH}: ${int(N)} channels (${SOURCES} sources × ${PER_SOURCE}), shuffled visiting order, ${ROUNDS} rounds of ≥ ${MIN_ROUND_MS} ms after a warm-up round; median; ${load()}`)

  // ---- memory, each flavour in a fresh process ----------------------------------------------------------
  for (const mode of ['bare', 'daemon'] as const) {
    const m = await measureMemory(mode)
    if (m.size !== N) throw new Error(`${mode} table has ${m.size} entries`)
    const label = mode === 'bare' ? 'bare table' : 'daemon table'
    report({
      bench: BENCH,
      metric: `${label}: create (pop patch)`,
      value: (N / m.createNs) * 1e9,
      unit: 'creates/s',
      note: `(one cold pass${mode === 'daemon' ? ', each creation published on the EventBus' : ''})`,
    })
    report({ bench: BENCH, metric: `${label}: RSS before`, value: mb(m.before.rss), unit: 'MB', note: mode === 'daemon' ? '(Daemon object built, not started)' : '(daemon modules loaded)' })
    report({ bench: BENCH, metric: `${label}: RSS after ${int(N)} ch.`, value: mb(m.after.rss), unit: 'MB', aim: { op: '<', value: AIM_MB } })
    report({
      bench: BENCH,
      metric: `${label}: heap used growth`,
      value: mb(m.after.heapUsed - m.before.heapUsed),
      unit: 'MB',
      note:
        `(${int((m.after.heapUsed - m.before.heapUsed) / N)} B/channel${mode === 'daemon' ? ' incl. the 10,000-event replay ring' : ''}; ` +
        `heapUsed ${fixed(mb(m.before.heapUsed), 1)} → ${fixed(mb(m.after.heapUsed), 1)}, heapTotal ${fixed(mb(m.before.heapTotal), 1)} → ${fixed(mb(m.after.heapTotal), 1)} MB)`,
    })
  }
  const daemon = new Daemon(parseConfig({ log: { level: 'fatal' }, timeZone: 'Asia/Shanghai' }), { log: createLogger('silent') })
  const dt = daemon.table
  for (let i = 0; i < N; i++) dt.update(srcOf[i]!, chOf[i]!, popPatch(i, 0, 'idle'))

  // ---- a bare table, one no-op listener ---------------------------------------------------------------
  const t = new ChannelTable()
  let events = 0
  t.onChange(() => {
    events++
  })
  for (let i = 0; i < N; i++) t.update(srcOf[i]!, chOf[i]!, popPatch(i, 0, 'idle'))

  let ops0 = opsDone
  let ev0 = events
  const flips = measure((start) => {
    for (let b = start; b < start + BLOCK; b++) {
      const i = order[b]!
      t.update(srcOf[i]!, chOf[i]!, { state: nextState(i) })
    }
  })
  const flipUpdates = opsDone - ops0
  const flipEvents = events - ev0
  report({ bench: BENCH, metric: 'update (state change), no-op listener', value: flips.med, unit: 'updates/s', aim: { op: '>=', value: AIM_UPDATES }, note: spread(flips) })

  // the same on a hot set: 1,000 of the 100,000 channels, over and over (a small working set)
  const HOT = 1000
  ops0 = opsDone
  ev0 = events
  const hot = measure(() => {
    for (let r = 0; r < BLOCK / HOT; r++) {
      for (let h = 0; h < HOT; h++) {
        const i = order[h]!
        t.update(srcOf[i]!, chOf[i]!, { state: nextState(i) })
      }
    }
  })
  const hotUpdates = opsDone - ops0
  const hotEvents = events - ev0
  report({ bench: BENCH, metric: `update (state change), ${int(HOT)} hot ch.`, value: hot.med, unit: 'updates/s', note: `${spread(hot)} (same table, no-op listener)` })

  ops0 = opsDone
  ev0 = events
  let k = 0
  const pops = measure((start) => {
    for (let b = start; b < start + BLOCK; b++) {
      const i = order[b]!
      k++
      t.update(srcOf[i]!, chOf[i]!, popPatch(i, k, k & 1 ? 'ringing' : 'dialing'))
    }
  })
  const popUpdates = opsDone - ops0
  const popEvents = events - ev0
  report({ bench: BENCH, metric: 'update (full pop patch), no-op listener', value: pops.med, unit: 'updates/s', note: spread(pops) })

  // a patch equal to what the entry holds: no change, no event
  ev0 = events
  const noop = measure((start) => {
    for (let b = start; b < start + BLOCK; b++) {
      const i = order[b]!
      const e = t.get(ids[i]!)!
      t.update(srcOf[i]!, chOf[i]!, { state: e.state, direction: e.direction })
    }
  })
  const noopEvents = events - ev0
  report({ bench: BENCH, metric: 'update that changes nothing', value: noop.med, unit: 'updates/s', note: `${spread(noop)} (includes a get(id))` })

  let found = 0
  const look = measure((start) => {
    for (let b = start; b < start + BLOCK; b++) {
      const i = order[b]!
      if (t.lookup(srcOf[i]!, chOf[i]!)) found++
    }
  })
  report({ bench: BENCH, metric: 'lookup(source, channel)', value: look.med, unit: 'lookups/s', note: spread(look) })
  const get = measure((start) => {
    for (let b = start; b < start + BLOCK; b++) if (t.get(ids[order[b]!]!)) found++
  })
  report({ bench: BENCH, metric: 'get(id)', value: get.med, unit: 'lookups/s', note: spread(get) })

  // ---- baseline: a bare Map doing the same state changes ------------------------------------------
  const bare = new Map<string, { state: string; since: number }>()
  for (let i = 0; i < N; i++) bare.set(ids[i]!, { state: CYCLE[step[i]! % 3]!, since: 0 })
  const bareRes = measure((start) => {
    for (let b = start; b < start + BLOCK; b++) {
      const i = order[b]!
      const state = nextState(i)
      const e = bare.get(`${srcOf[i]}:${chOf[i]}`)!
      if (e.state !== state) {
        e.state = state
        e.since = Date.now()
        found++
      }
    }
  })
  report({ bench: BENCH, metric: 'baseline: bare Map get+set state', value: bareRes.med, unit: 'updates/s', note: spread(bareRes) })

  // ---- the daemon's table and listener (→ EventBus) ---------------------------------------------------
  // its channels are all `idle`; reset the steps so every update is a real change again
  step.fill(0)
  const p0 = daemon.bus.published.get('channel') ?? 0
  ops0 = opsDone
  const withBus = measure((start) => {
    for (let b = start; b < start + BLOCK; b++) {
      const i = order[b]!
      dt.update(srcOf[i]!, chOf[i]!, { state: nextState(i) })
    }
  })
  const busUpdates = opsDone - ops0
  const published = (daemon.bus.published.get('channel') ?? 0) - p0
  report({
    bench: BENCH,
    metric: 'update (state change), daemon listener',
    value: withBus.med,
    unit: 'updates/s',
    aim: { op: '>=', value: AIM_UPDATES },
    note: `${spread(withBus)} (publishes to the EventBus, 0 SSE clients)`,
  })
  daemon.pops.close()
  await daemon.api.close()

  const allChanged = flipEvents === flipUpdates && hotEvents === hotUpdates && popEvents === popUpdates && published === busUpdates && noopEvents === 0
  say(
    `  checks: ${int(flipUpdates + hotUpdates)} state changes → ${int(flipEvents + hotEvents)} events; ${int(popUpdates)} pop patches → ${int(popEvents)} events; ` +
      `${int(busUpdates)} daemon-table changes → ${int(published)} channel events published; no-op updates → ${noopEvents} events` +
      (allChanged ? '' : '  ← MISMATCH') +
      (found > 0 ? '' : '  ← NO LOOKUP HIT'),
  )
  finish()
}
