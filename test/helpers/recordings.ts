import { wavHeader } from '../../protocols/wav/index.js'
import type { Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { pino } from 'pino'
import { parseConfig } from '../../daemon/config.js'
import { EventBus, type BusEvent } from '../../daemon/core/events.js'
import { Metrics } from '../../daemon/core/metrics.js'
import { RecordingStore } from '../../daemon/core/recordings/store.js'
import { BOX_IDS } from '../../devices/800hu/ids.js'

export interface StoreRig {
  store: RecordingStore
  bus: EventBus
  metrics: Metrics
  events: BusEvent[]
  /** parsed log lines (level ≥ debug) */
  logs: { level: number; msg: string; [k: string]: unknown }[]
  dataDir: string
  clock: { now: number }
  reopen(): Promise<StoreRig>
}

export async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tb-rec-'))
  t.teardown(async () => {
    // a test may have left a directory read-only
    await chmodAll(dir)
    await rm(dir, { recursive: true, force: true })
  })
  return dir
}

async function chmodAll(dir: string): Promise<void> {
  await chmod(dir, 0o700).catch(() => {})
  const ents = await readdir(dir, { withFileTypes: true }).catch(() => [])
  for (const e of ents) if (e.isDirectory()) await chmodAll(join(dir, e.name))
}

export async function storeRig(t: Test, opts: { dataDir?: string; recordings?: Record<string, unknown>; now?: number; sweepIntervalMs?: number } = {}): Promise<StoreRig> {
  const dataDir = opts.dataDir ?? (await tempDir(t))
  const clock = { now: opts.now ?? Date.now() }
  const make = async (): Promise<StoreRig> => {
    const cfg = parseConfig({ api: { port: 0 }, dataDir, recordings: opts.recordings ?? {} })
    const logs: StoreRig['logs'] = []
    const sink = new Writable({
      write(chunk, _e, cb) {
        for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line))
        cb()
      },
    })
    const log = pino({ level: 'debug' }, sink)
    const bus = new EventBus(10000)
    const events: BusEvent[] = []
    bus.subscribe((e) => events.push(e))
    const metrics = new Metrics()
    const store = new RecordingStore({ dataDir, config: cfg.recordings, log, bus, metrics, now: () => clock.now, sweepIntervalMs: opts.sweepIntervalMs, boxes: BOX_IDS })
    await store.open()
    t.teardown(() => store.close())
    const rig: StoreRig = {
      store,
      bus,
      metrics,
      events,
      logs,
      dataDir,
      clock,
      reopen: async () => {
        await store.close()
        const next = await make()
        return next
      },
    }
    return rig
  }
  return make()
}

/** A WAV file: 44-byte PCM header (8 kHz, 16-bit mono) and random samples. */
export function wav(bytes: number, seed?: Buffer): Buffer {
  const dataLen = Math.max(0, bytes - 44)
  const h = wavHeader(dataLen)
  return Buffer.concat([h, seed ?? randomBytes(dataLen)]).subarray(0, Math.max(44, bytes))
}

/** A readable that hands out `buf` in chunks of `chunk` bytes, asynchronously. */
export function chunked(buf: Buffer, chunk = 65536): Readable {
  let i = 0
  return new Readable({
    read() {
      setImmediate(() => {
        if (i >= buf.length) return this.push(null)
        this.push(buf.subarray(i, i + chunk))
        i += chunk
      })
    },
  })
}

export const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex')
export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/** Every file under dir, as relative paths with `/`, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(d, e.name))
      else out.push(relative(dir, join(d, e.name)).split('\\').join('/'))
    }
  }
  await walk(dir)
  return out.sort()
}

export const BOX = '00000000000a'

/** Upload fields as the seed names them. */
export function fields(callid: string, o: Partial<Record<string, string>> = {}): Record<string, string> {
  return {
    cmd: 'upload',
    satellite: '00:00:00:00:00:0A',
    channel: '1',
    start_time_secs: String(Math.floor(Date.now() / 1000) - 120),
    start_time_hangup: String(Math.floor(Date.now() / 1000) - 60),
    direction: 'in',
    callid_dialed: '13800138000',
    duration_secs: '55',
    id: '17',
    recorded: '1',
    callid,
    ...o,
  } as Record<string, string>
}

/** receive + commit in one go. */
export async function put(store: RecordingStore, callid: string, data: Buffer, o: { fields?: Partial<Record<string, string>>; ext?: string; box?: string; fileMd5?: string } = {}) {
  const tmp = await store.receive(chunked(data))
  return store.commit(tmp, { callid, ext: o.ext ?? 'wav', box: o.box ?? BOX, fields: fields(callid, o.fields), fileMd5: o.fileMd5 })
}

/** The local date directory for a time, as the store files it. */
export function dayDir(ms: number): string {
  const d = new Date(ms)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())}`
}
