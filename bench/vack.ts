/**
 * LQ vack (seed 000): what polling and call control cost telbridge.
 *
 *  - poll cost: CPU ms (process.cpuUsage, user + system, GC threads included) per 1,000-channel
 *    getChStatus answer (gb2312 XML, ~320 kB, as the simulator writes it) decoded with iconv-lite,
 *    parsed by fast-xml-parser, turned into records and applied to the table of a real Daemon (built,
 *    not started: its table listener builds and publishes each channel event). Steady state: 5
 *    channels change per round; worst case: all 1,000 change every round (idle ↔ talking). Three
 *    ways: as the source polls (ChStatusReader: records whose text did not change are not parsed
 *    again), every record through fast-xml-parser, and that parse without the table (the split).
 *    40 rounds after 10 warm-up rounds, a fresh Daemon each; answers are built before timing.
 *  - control round trip, sequential, on 127.0.0.1 against the simulator (stateless: every control
 *    answers 执行成功, so each dial is the same work): a direct `callauto` with the same VackClient;
 *    `source.control({action:'dial'})` in-process (adds validation, logging, the error mapping and
 *    the poll it schedules); and POST /v1/calls on the daemon's API (adds fastify, JSON, the route).
 *    The three kinds run interleaved in blocks so drift hits all alike; p50/p99 over all samples.
 */
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { LqVackSimulator, type SimChannel } from '../daemon/vendors/lq-vack/simulator.js'
import type { LqVackSource } from '../daemon/vendors/lq-vack/source.js'
import { ChStatusReader, decodeAnswerText, decodeVackXml, encodeChStatus, parseChStatus, VackClient } from '../protocols/lq-vack/index.js'
import { cpuMs, finish, load, report, roundTrips, say } from './common.js'

const N = 1000
const WARM = 10
const ROUNDS = 40
const STEADY_CHANGES = 5

function channels(): SimChannel[] {
  const out: SimChannel[] = []
  for (let i = 0; i < N; i++) {
    const agent = i >= 800
    out.push({
      ch: i,
      kind: agent ? 'agent' : 'external',
      status: 0,
      inUse: 0,
      step: '空闲',
      peerCh: -1,
      phone: null,
      oper: agent ? String(8000 + i) : null,
      startTime: null,
      endTime: null,
      loginTime: agent ? '08:00:00' : null,
      idleTime: '08:00:00',
      listened: false,
      recording: false,
      busy: false,
    })
  }
  return out
}

function talking(c: SimChannel, k: number): void {
  c.status = 3
  c.inUse = c.kind === 'agent' ? 2 : 1
  c.step = '通话中'
  c.phone = `138${String(10_000_000 + ((c.ch * 7919 + k * 104_729) % 89_999_999))}`
  c.startTime = '09:00:00'
  c.recording = true
}

function idle(c: SimChannel): void {
  c.status = 0
  c.inUse = 0
  c.step = '空闲'
  c.phone = null
  c.startTime = null
  c.recording = false
}

/** answers for warm-up + rounds: steady (a few channels flip each round) or all (every channel flips) */
function bodies(kind: 'steady' | 'all'): Buffer[] {
  const chs = channels()
  const out: Buffer[] = []
  let cursor = 0
  for (let r = 0; r < WARM + ROUNDS; r++) {
    if (kind === 'all') {
      for (const c of chs) {
        if (r % 2) idle(c)
        else talking(c, r)
      }
    } else {
      for (let j = 0; j < STEADY_CHANGES; j++) {
        const c = chs[(cursor = (cursor + 337) % N)]!
        if (c.status === 0) talking(c, r)
        else idle(c)
      }
    }
    out.push(encodeChStatus(chs, 1_700_000_000_000 + r))
  }
  return out
}

async function pollCost(): Promise<void> {
  const config = parseConfig({ api: { port: 0 }, sources: [{ id: 'lqv', type: 'lq-vack', url: 'http://127.0.0.1:9/v/vack', pollMs: 3_600_000 }] })
  for (const kind of ['steady', 'all'] as const) {
    const bs = bodies(kind)
    const name = kind === 'steady' ? `steady (${STEADY_CHANGES} changes/round)` : 'worst (all 1,000 change)'
    // what the source does: decode, the incremental reader, apply (fresh daemon and reader per variant)
    const variants: [string, (src: LqVackSource, reader: ChStatusReader, b: Buffer) => void, string][] = [
      [
        'read+apply',
        (src, reader, b) => {
          const { text, encoding } = decodeAnswerText(b)
          src.applyAnswers([reader.read(text, encoding).answer])
        },
        'as polled: unchanged records reused',
      ],
      ['whole parse+apply', (src, _r, b) => src.applyAnswers([parseChStatus(decodeVackXml(b))]), 'every record through fast-xml-parser'],
      ['whole parse only', (_s, _r, b) => void parseChStatus(decodeVackXml(b)), 'baseline: no table'],
    ]
    for (const [label, fn, note] of variants) {
      const daemon = new Daemon(config, { log: pino({ level: 'silent' }) })
      const src = daemon.sources.get('lqv') as LqVackSource
      const reader = new ChStatusReader()
      for (let r = 0; r < WARM; r++) fn(src, reader, bs[r]!)
      const ev1 = daemon.bus.published.get('channel') ?? 0
      const ms = cpuMs(() => {
        for (let r = WARM; r < WARM + ROUNDS; r++) fn(src, reader, bs[r]!)
      })
      const events = ((daemon.bus.published.get('channel') ?? 0) - ev1) / ROUNDS
      report({ bench: 'vack', metric: `poll ${name}: ${label}`, value: ms / ROUNDS, unit: 'ms', note: `CPU per answer; ${note}${label.includes('apply') ? `; ${events} channel events/round` : ''}` })
    }
  }
  say(`  answer size: ${(bodies('steady')[0]!.length / 1000).toFixed(0)} kB gb2312 for ${N} channels`)
}

async function controlRoundTrip(): Promise<void> {
  const sim = new LqVackSimulator({ port: 0, channels: 8, agents: ['801', '802'], stateless: true, secret: 'lcall' })
  await sim.start()
  const config = parseConfig({
    api: { port: 0 },
    sources: [{ id: 'lqv', type: 'lq-vack', url: sim.url, secret: 'lcall', pollMs: 3_600_000, operPollMs: 0, queuePollMs: 0 }],
  })
  const daemon = new Daemon(config, { log: pino({ level: 'silent' }) })
  const { apiUrl } = await daemon.start()
  const src = daemon.sources.get('lqv') as LqVackSource
  while (src.status !== 'connected') await new Promise((r) => setTimeout(r, 10))
  const direct = new VackClient({ url: sim.url, secret: 'lcall', timeoutMs: 5000 })
  const body = JSON.stringify({ source: 'lqv', agent: '801', phone: '02586307627' })
  const kinds = {
    direct: async () => {
      await direct.callauto({ oper: '801', phone: '02586307627', reqType: 0 })
    },
    'source.control()': async () => {
      await src.control({ action: 'dial', source: 'lqv', agent: '801', phone: '02586307627' })
    },
    'POST /v1/calls': async () => {
      const r = await fetch(`${apiUrl}/v1/calls`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      await r.arrayBuffer()
      if (r.status !== 202) throw new Error(`POST /v1/calls: ${r.status}`)
    },
  }
  await roundTrips('vack', 'dial round trip', kinds)
  say(`  simulator requests: ${sim.requests.length} (callauto ${sim.requestsFor('callauto').length}, getChStatus ${sim.requestsFor('getChStatus').length} from the polls controls schedule)`)
  await daemon.stop()
  await sim.stop()
}

say(`vack bench: ${load()} at the start`)
await pollCost()
await controlRoundTrip()
finish()
