import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import { parseConfig } from '../../daemon/config.js'
import { Daemon } from '../../daemon/daemon.js'
import { GuoxinSimulator, type GuoxinSimOptions } from '../../daemon/vendors/guoxin/simulator.js'
import { LqSimulator, type LqSimOptions } from '../../daemon/vendors/lq-socket/simulator.js'
import { LqVackSimulator, type LqVackSimOptions } from '../../daemon/vendors/lq-vack/simulator.js'
import { YantongSimulator, type YantongSimOptions } from '../../daemon/vendors/yantong/simulator.js'
import { SseReader } from './sse.js'

/**
 * The one rig of the tests that need a real daemon: a Daemon from `parseConfig` on 127.0.0.1
 * ephemeral ports, optionally an ingest listener, a fresh data dir and an SSE reader on
 * /v1/events. The vendor side (simulators) is started by the `start*` helpers below, which all
 * restart on the same port, so a test can kill a vendor and bring it back.
 */

export interface Teardown {
  teardown(fn: () => unknown): void
}

export interface RigOptions {
  /** an ingest listener on 127.0.0.1:0 (vendor callbacks, 800hu boxes) */
  ingest?: boolean
  /** a fresh temp dir as dataDir (named with this prefix, if a string), removed at stop; default: fresh unless the config has dataDir */
  dataDir?: boolean | string
  /** open /v1/events: 'all' replays from the first event (so `connecting` at start is seen too) */
  sse?: boolean | 'all'
  log?: Logger
  /** stop() registered as its teardown */
  t?: Teardown
}

export interface DaemonRig {
  daemon: Daemon
  api: string
  ingest: string | null
  sse: SseReader | null
  dir: string | null
  stop(): Promise<void>
}

export const quietLog = (): Logger => pino({ level: process.env.TB_TEST_LOG ?? 'silent' })

/** A daemon from a config object: api on 127.0.0.1:0, and ingest too with `ingest` (the config's own api/ingest keys win). */
export async function daemonRig(config: Record<string, unknown> = {}, opts: RigOptions = {}): Promise<DaemonRig> {
  // a fresh data dir unless the config names one or the test says no: the call log's SQLite file must not be shared between test files
  const fresh = opts.dataDir ?? config.dataDir === undefined
  const dir = fresh ? await mkdtemp(join(tmpdir(), typeof opts.dataDir === 'string' ? opts.dataDir : 'tb-rig-')) : null
  const parsed = parseConfig({
    ...config,
    api: { port: 0, ...(config.api as object) },
    ...(opts.ingest ? { ingest: { host: '127.0.0.1', port: 0, ...(config.ingest as object) } } : {}),
    ...(dir ? { dataDir: dir } : {}),
  })
  const daemon = new Daemon(parsed, { log: opts.log ?? quietLog() })
  const { apiUrl, ingestUrl } = await daemon.start()
  const sse = opts.sse ? await SseReader.open(`${apiUrl}/v1/events${opts.sse === 'all' ? `?since=${daemon.bus.oldestId - 1}` : ''}`) : null
  let stopping: Promise<void> | null = null
  const rig: DaemonRig = {
    daemon,
    api: apiUrl,
    ingest: ingestUrl,
    sse,
    dir,
    stop() {
      stopping ??= (async () => {
        sse?.close()
        await daemon.stop()
        if (dir) await rm(dir, { recursive: true, force: true })
      })()
      return stopping
    },
  }
  opts.t?.teardown(() => rig.stop())
  return rig
}

/** A vendor simulator that can be killed and started again on the same port. */
export interface SimHandle<S> {
  sim: S
  port: number
  /** stop the simulator (the port closes) */
  kill(): Promise<void>
  /** a new simulator with the same options on the same port */
  restart(): Promise<S>
  stop(): Promise<void>
}

async function restartable<S extends { stop(): Promise<unknown> }>(make: (port: number) => S, start: (s: S) => Promise<number>, t?: Teardown): Promise<SimHandle<S>> {
  let alive = true
  const h: SimHandle<S> = {
    sim: make(0),
    port: 0,
    async kill() {
      alive = false
      await h.sim.stop()
    },
    async restart() {
      if (alive) await h.sim.stop()
      h.sim = make(h.port)
      await start(h.sim)
      alive = true
      return h.sim
    },
    async stop() {
      if (alive) await h.sim.stop()
      alive = false
    },
  }
  h.port = await start(h.sim)
  t?.teardown(() => h.stop())
  return h
}

export function startLqSocket(opts: Partial<LqSimOptions> = {}, t?: Teardown): Promise<SimHandle<LqSimulator>> {
  return restartable(
    (port) => new LqSimulator({ rate: 0, trySeconds: 0, agents: ['801'], ...opts, port }),
    (s) => s.start(),
    t,
  )
}

export function startLqVack(opts: Partial<LqVackSimOptions> = {}, t?: Teardown): Promise<SimHandle<LqVackSimulator>> {
  return restartable(
    (port) => new LqVackSimulator({ channels: 4, agents: ['801', '802'], answerMs: 60_000, talkMs: 0, ...opts, port }),
    (s) => s.start(),
    t,
  )
}

export function startGuoxin(opts: Partial<GuoxinSimOptions> = {}, t?: Teardown): Promise<SimHandle<GuoxinSimulator>> {
  return restartable(
    (port) => new GuoxinSimulator({ extensions: ['801', '802', '803'], supervisors: ['803'], ringMs: 80, talkMs: 0, ...opts, port }),
    (s) => s.start(),
    t,
  )
}

export function startYantong(opts: Partial<YantongSimOptions> = {}, t?: Teardown): Promise<SimHandle<YantongSimulator>> {
  return restartable(
    (port) => new YantongSimulator({ staff: ['8001', '8002'], ringMs: 30, talkMs: 0, ...opts, port }),
    (s) => s.start(),
    t,
  )
}

/** POST a JSON body; the answer parsed. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  const text = await r.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {
    // not JSON: the text as it came
  }
  return { status: r.status, body: parsed }
}
