/**
 * Guoxin (seed 001): what polling, pushes and call control cost telbridge.
 *
 *  - poll cost: CPU ms (process.cpuUsage, user + system) per 1,000-extension EXTNUM_STATE answer
 *    (UTF-8 JSON as the simulator writes it, Chinese names) decoded with iconv-lite, parsed and applied
 *    to the table of a real Daemon (built, not started: its table listener builds and publishes each
 *    channel event). Steady: 5 extensions change per round; worst: all 1,000 flip idle ↔ busy every
 *    round. 40 rounds after 10 warm-up rounds; answers are built before timing.
 *  - push cost: CPU µs per push callback checked (parsePush) and applied (state change, and a pop for
 *    callee-leg ringing), in-process, 10,000 pushes (ringing, talking, hungup for 3,333 calls); with
 *    the call tracker (each leg also a push report, issue 13) between two runs without it.
 *  - control round trip, sequential, on 127.0.0.1 against the simulator: SET_EXT_PRESENCE_STATE
 *    (stateless: always 200) by a direct GuoxinClient call; `source.control({action:'presence'})`;
 *    and POST /v1/agents/:agent/presence on the daemon's API. Interleaved blocks; p50/p99.
 */
import iconv from 'iconv-lite'
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { GuoxinSimulator } from '../daemon/vendors/guoxin/simulator.js'
import type { GuoxinSource } from '../daemon/vendors/guoxin/source.js'
import { GuoxinClient, parseExtStates, parsePush } from '../protocols/guoxin/index.js'
import { cpuMs, finish, load, report, roundTrips, say } from './common.js'

const N = 1000
const WARM = 10
const ROUNDS = 40
const STEADY_CHANGES = 5
const NAMES = ['李阳', '张霞', '王芳', '刘洋', '陈静']

interface Ext {
  telNum: string
  busy: boolean
  remote: string | null
}

function answer(exts: Ext[]): Buffer {
  return iconv.encode(
    JSON.stringify(
      exts.map((e, i) => ({
        telNum: e.telNum,
        userName: NAMES[i % NAMES.length],
        telRegState: 1,
        phoneType: 'NewRockTech-MX8-v1.9.82.333/UA',
        ...(e.remote ? { remoteNum: e.remote } : {}),
        state: e.busy ? 'BUSY_INCOMING' : 'IDEL',
        presence: 'online',
        missingCallCount: i % 3,
      })),
    ),
    'utf-8',
  )
}

function bodies(kind: 'steady' | 'all'): Buffer[] {
  const exts: Ext[] = Array.from({ length: N }, (_, i) => ({ telNum: String(10000 + i), busy: false, remote: null }))
  const flip = (e: Ext, r: number) => {
    e.busy = !e.busy
    e.remote = e.busy ? `138${String(10_000_000 + ((Number(e.telNum) * 7919 + r * 104_729) % 89_999_999))}` : null
  }
  const out: Buffer[] = []
  let cursor = 0
  for (let r = 0; r < WARM + ROUNDS; r++) {
    if (kind === 'all') for (const e of exts) flip(e, r)
    else for (let j = 0; j < STEADY_CHANGES; j++) flip(exts[(cursor = (cursor + 337) % N)]!, r)
    out.push(answer(exts))
  }
  return out
}

const idleConfig = parseConfig({ api: { port: 0 }, timeZone: 'Asia/Shanghai', sources: [{ id: 'gx', type: 'guoxin', url: 'http://127.0.0.1:9', pollMs: 3_600_000 }] })

function pollCost(): void {
  for (const kind of ['steady', 'all'] as const) {
    const bs = bodies(kind)
    const daemon = new Daemon(idleConfig, { log: pino({ level: 'silent' }) })
    const src = daemon.sources.get('gx') as GuoxinSource
    const apply = (b: Buffer) => src.applyStates(parseExtStates(iconv.decode(b, 'utf-8')).states, Date.now())
    for (let r = 0; r < WARM; r++) apply(bs[r]!)
    const ev1 = daemon.bus.published.get('channel') ?? 0
    const ms = cpuMs(() => {
      for (let r = WARM; r < WARM + ROUNDS; r++) apply(bs[r]!)
    })
    const events = ((daemon.bus.published.get('channel') ?? 0) - ev1) / ROUNDS
    const only = cpuMs(() => {
      for (let r = WARM; r < WARM + ROUNDS; r++) parseExtStates(iconv.decode(bs[r]!, 'utf-8'))
    })
    const name = kind === 'steady' ? `steady (${STEADY_CHANGES} change/round)` : 'worst (all 1,000 change)'
    report({ bench: 'guoxin', metric: `poll ${name}: parse+apply`, value: ms / ROUNDS, unit: 'ms', note: `CPU per answer; ${events} channel events/round` })
    report({ bench: 'guoxin', metric: `poll ${name}: parse only`, value: only / ROUNDS, unit: 'ms', note: 'baseline: no table' })
    daemon.pops.close()
  }
  say(`  answer size: ${(bodies('steady')[0]!.length / 1000).toFixed(0)} kB UTF-8 JSON for ${N} extensions`)
}

function pushCost(withCalls: boolean): void {
  const daemon = new Daemon(idleConfig, { log: pino({ level: 'silent' }) })
  const src = daemon.sources.get('gx') as GuoxinSource
  // the baseline: the same pushes with no call log behind the source (as before issue 13)
  if (!withCalls) (src as unknown as { ctx: { calls?: unknown } }).ctx.calls = undefined
  src.applyStates(parseExtStates(iconv.decode(answer(Array.from({ length: N }, (_, i) => ({ telNum: String(10000 + i), busy: false, remote: null }))), 'utf-8')).states, Date.now())
  const queries: Record<string, string>[] = []
  for (let i = 0; queries.length < 10_000; i++) {
    const q = {
      id: `c635814c-4c50-4340-adcf-${String(i).padStart(12, '0')}@192.168.1.82`,
      caller: `1591982${String(i % 10000).padStart(4, '0')}`,
      callee: String(10000 + (i % N)),
      direction: 'incoming',
      businessId: `1431045442108892${i}-0@192.168.1.102`,
      group: '3003',
    }
    for (const state of ['ringing', 'talking', 'hungup']) queries.push({ ...q, state })
  }
  queries.length = 10_000
  const run = (qs: Record<string, string>[]) => {
    for (const q of qs) {
      const r = parsePush(q)
      if (r.ok) void src.applyPush(r.push)
    }
  }
  run(queries.slice(0, 999))
  const ms = cpuMs(() => run(queries.slice(999)))
  const n = queries.length - 999
  report({
    bench: 'guoxin',
    metric: withCalls ? 'push checked + applied + call tracker' : 'push checked + applied, no call tracker',
    value: (ms * 1000) / n,
    unit: 'µs',
    note: withCalls
      ? `CPU per push, ${n} pushes in-process (a third make a pop); each extension leg also a push report merged into its call (the per-tick SQLite commit is not in this figure)`
      : 'baseline: the source without a call sink',
  })
  daemon.pops.close()
}

async function controlRoundTrip(): Promise<void> {
  const sim = new GuoxinSimulator({ port: 0, extensions: ['801', '802'] })
  await sim.start()
  const config = parseConfig({ api: { port: 0 }, sources: [{ id: 'gx', type: 'guoxin', url: sim.url, pollMs: 3_600_000 }] })
  const daemon = new Daemon(config, { log: pino({ level: 'silent' }) })
  const { apiUrl } = await daemon.start()
  const src = daemon.sources.get('gx') as GuoxinSource
  while (src.status !== 'connected') await new Promise((r) => setTimeout(r, 10))
  const direct = new GuoxinClient({ url: sim.url, timeoutMs: 5000 })
  const body = JSON.stringify({ source: 'gx', presence: 'busy' })
  const kinds = {
    direct: async () => {
      await direct.setPresence({ extnum: '801', state: 'busy' })
    },
    'source.control()': async () => {
      await src.control({ action: 'presence', source: 'gx', agent: '801', presence: 'busy' })
    },
    'POST /v1/agents/801/presence': async () => {
      const r = await fetch(`${apiUrl}/v1/agents/801/presence`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      await r.arrayBuffer()
      if (r.status !== 202) throw new Error(`presence: ${r.status}`)
    },
  }
  await roundTrips('guoxin', 'presence round trip', kinds)
  await daemon.stop()
  await sim.stop()
}

say(`guoxin bench: ${load()} at the start`)
pollCost()
pushCost(false)
pushCost(true)
pushCost(false)
await controlRoundTrip()
finish()
