/**
 * Issue 13: start-up with 1,000,000 recordings and 1,000,000 calls on disk. Time from spawning
 * `telbridge run` to the first `/v1/health` answer, and the process's RSS at that moment (aims < 3 s,
 * < 150 MB). Baselines in the same run: a bare Node process that opens the same database and answers
 * HTTP, and the one-time full build (the database moved away) of a 100,000-recording store, which is
 * what every start cost before the index was in SQLite (issue: 17.9 s / 333 MB at 100,000).
 *
 * The data set is generated once with plain fs calls (zero-byte `recorded=0` entries, as a box's
 * unrecorded calls are stored) and cached under os.tmpdir() with a version tag; the database rows are
 * written through the store's own index code, the day directories get the mtime of their day.
 *
 *   node dist/bench/startup.js            (STARTUP_N=… for another size; STARTUP_REGEN=1 to rebuild)
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openDb } from '../daemon/core/db.js'
import { CallLog } from '../daemon/core/calls/log.js'
import type { Call } from '../daemon/core/calls/types.js'
import { RecordingIndex } from '../daemon/core/recordings/index.js'
import { buildRecord, SIDECAR_FORMAT } from '../daemon/core/recordings/record.js'
import { INDEX_FORMAT } from '../daemon/core/recordings/index.js'
import { freePort, stopChild, track } from './children.js'
import { finish, mb, report, say } from './common.js'

const VERSION = 'v1'
const N = Number(process.env.STARTUP_N ?? 1_000_000)
const PER_DAY = 1000
const DAY = 86400_000
const BOX = '00000000000a'
const EMPTY_MD5 = createHash('md5').digest('hex')
const EMPTY_SHA = createHash('sha256').digest('hex')
const CLI = fileURLToPath(new URL('../daemon/cli.js', import.meta.url))
const pad = (n: number) => String(n).padStart(2, '0')

/** `<tmp>/telbridge-bench-startup-v1-<n>`: recordings/ and telbridge.db, made once. */
function dataset(n: number, calls: number): { dir: string; genSeconds: number | null } {
  const dir = join(tmpdir(), `telbridge-bench-startup-${VERSION}-${n}`)
  if (existsSync(join(dir, 'done')) && !process.env.STARTUP_REGEN) return { dir, genSeconds: null }
  rmSync(dir, { recursive: true, force: true })
  const t0 = performance.now()
  const root = join(dir, 'recordings')
  const db = openDb(dir)
  const index = new RecordingIndex(db, root)
  const days = Math.ceil(n / PER_DAY)
  // the newest day is yesterday: a store that has been running for years
  const last = new Date()
  last.setHours(12, 0, 0, 0)
  const first = last.getTime() - days * DAY
  let made = 0
  for (let d = 0; d < days; d++) {
    const noon = new Date(first + d * DAY)
    const rel = `${noon.getFullYear()}/${pad(noon.getMonth() + 1)}/${pad(noon.getDate())}`
    const abs = join(root, ...rel.split('/'))
    mkdirSync(abs, { recursive: true })
    const found = []
    for (let i = 0; i < PER_DAY && made < n; i++, made++) {
      const callid = `c${d}-${i}`
      const startMs = noon.getTime() - 6 * 3600_000 + i * 40_000
      const fields = {
        cmd: 'upload',
        callid,
        channel: String((i % 30) + 1),
        start_time_secs: String(Math.floor(startMs / 1000)),
        start_time_hangup: String(Math.floor(startMs / 1000) + 30),
        direction: i % 3 ? 'in' : 'out',
        callid_dialed: `138${String(made).padStart(8, '0')}`,
        duration_secs: '0',
        recorded: '0',
        id: String(made),
      }
      const { record, timeMs } = buildRecord({
        id: callid,
        callid,
        box: BOX,
        source: `800hu-${BOX}`,
        ext: 'wav',
        size: 0,
        md5: EMPTY_MD5,
        sha256: EMPTY_SHA,
        receivedMs: startMs + 60_000,
        file: `${rel}/${callid}.wav`,
        fields,
      })
      writeFileSync(join(abs, `${callid}.wav`), '')
      writeFileSync(join(abs, `${callid}.wav.json`), JSON.stringify({ format: SIDECAR_FORMAT, ...record }, null, 2) + '\n')
      found.push({ record, timeMs, receivedMs: startMs + 60_000 })
    }
    index.replaceDir(rel, found, () => false, Date.now())
    utimesSync(abs, new Date(noon.getTime() + 6 * 3600_000), new Date(noon.getTime() + 6 * 3600_000))
    if (d % 100 === 0) process.stdout.write(`  generating: ${made.toLocaleString('en-US')} recordings\r`)
  }
  index.setFormat(INDEX_FORMAT)
  const log = new CallLog(db)
  const batch: Call[] = []
  for (let i = 0; i < calls; i++) {
    const start = first + Math.floor((i / calls) * days * DAY)
    const answered = i % 4 !== 0
    batch.push({
      id: `bench-${i}`,
      source: i % 2 ? 'lq' : `800hu-${BOX}`,
      channel: String((i % 30) + 1),
      agent: String(800 + (i % 30)),
      direction: i % 3 ? 'inbound' : 'outbound',
      phone: `139${String(i).padStart(8, '0')}`,
      startedMs: start,
      answeredMs: answered ? start + 5000 : null,
      endedMs: start + 65_000,
      ringSeconds: 5,
      talkSeconds: answered ? 60 : 0,
      disposition: answered ? 'answered' : 'missed',
      recordings: [],
      vendorIds: { callid: `v${i}` },
      popData: null,
      memo: null,
      inputs: ['line'],
      updatedMs: start + 65_000,
    })
    if (batch.length === 10_000) log.write(batch.splice(0))
  }
  if (batch.length) log.write(batch)
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
  writeFileSync(join(dir, 'done'), new Date().toISOString())
  return { dir, genSeconds: (performance.now() - t0) / 1000 }
}

/** CPU time (user + system) a process has used, in ms: unlike wall time, not stretched by other load. */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // utime and stime are fields 14 and 15, in ticks of 10 ms; after the ")" the list starts at field 3
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) * 10
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? (Number(m[1]) * 1024) / 1e6 : NaN
}

/** Spawn argv, poll `url` every 10 ms; ms until the first 200, RSS then, and the body. */
async function untilHealthy(argv: string[], url: string): Promise<{ ms: number; rss: number; cpuMs: number; body: Record<string, unknown> }> {
  const t0 = performance.now()
  const child = track(spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'inherit'] }))
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${argv.join(' ')} exited with ${child.exitCode}`)
      const res = await fetch(url).catch(() => null)
      if (res?.status === 200) {
        const ms = performance.now() - t0
        const rss = rssMb(child.pid!)
        const cpuMs = cpuMsOf(child.pid!)
        return { ms, rss, cpuMs, body: (await res.json()) as Record<string, unknown> }
      }
      await new Promise((r) => setTimeout(r, 10))
      if (performance.now() - t0 > 600_000) throw new Error('no answer in 10 minutes')
    }
  } finally {
    await stopChild(child)
  }
}

async function daemonStart(dir: string): Promise<{ ms: number; rss: number; cpuMs: number; body: Record<string, unknown> }> {
  const port = await freePort()
  const cfg = join(dir, `bench-${port}.json`)
  writeFileSync(cfg, JSON.stringify({ api: { port }, dataDir: dir, log: { level: 'warn' } }))
  try {
    return await untilHealthy([CLI, 'run', '--config', cfg], `http://127.0.0.1:${port}/v1/health`)
  } finally {
    rmSync(cfg, { force: true })
  }
}

const BARE = `
const Database = require(${JSON.stringify(fileURLToPath(new URL('../../node_modules/better-sqlite3', import.meta.url)))})
const db = new Database(process.argv[1]); db.pragma('journal_mode = WAL')
const n = db.prepare("SELECT count FROM totals WHERE name = 'recordings'").pluck().get()
require('node:http').createServer((q, s) => s.end(JSON.stringify({ recordings: n }))).listen(Number(process.argv[2]), '127.0.0.1')
`

const gen = dataset(N, N)
say(`  data set: ${gen.dir} (${N.toLocaleString('en-US')} recordings, ${N.toLocaleString('en-US')} calls): ${gen.genSeconds === null ? 'cached' : `generated in ${gen.genSeconds.toFixed(0)} s`}`)
if (process.env.STARTUP_GEN_ONLY) process.exit(0)
// warm the page cache once, as a restarted service finds it
await daemonStart(gen.dir)
const runs = []
for (let i = 0; i < 5; i++) runs.push(await daemonStart(gen.dir))
runs.sort((a, b) => a.ms - b.ms)
const mid = runs[2]!
const h = mid.body as { storage?: { recordings?: { count?: number }; calls?: { count?: number } } }
report({
  bench: 'startup',
  metric: `spawn → /v1/health at ${N / 1e6}M rec + calls (median of 5)`,
  value: mid.ms,
  unit: 'ms',
  aim: { op: '<', value: 3000 },
  note: `runs ${runs.map((r) => r.ms.toFixed(0)).join('/')} ms`,
})
report({
  bench: 'startup',
  metric: 'CPU used by then (user + system)',
  value: mid.cpuMs,
  unit: 'ms',
  note: `runs ${runs.map((r) => r.cpuMs).join('/')} ms; the wall time is this plus waiting for a core`,
})
report({
  bench: 'startup',
  metric: 'RSS at that moment',
  value: mid.rss,
  unit: 'MB',
  aim: { op: '<', value: 150 },
  note: `health says ${h.storage?.recordings?.count ?? '?'} recordings, ${h.storage?.calls?.count ?? '?'} calls`,
})

const bport = await freePort()
const bare = await untilHealthy(['-e', BARE, join(gen.dir, 'telbridge.db'), String(bport)], `http://127.0.0.1:${bport}/`)
report({ bench: 'startup', metric: 'baseline: bare node + better-sqlite3 + http', value: bare.ms, unit: 'ms', note: `CPU ${bare.cpuMs} ms, RSS ${mb(bare.rss * 1e6).toFixed(1)} MB, same database` })

// the index's queries at this size (the recordings API and the 800hu findDialrecord use them), median of 5
{
  const db = openDb(gen.dir)
  const ix = new RecordingIndex(db, join(gen.dir, 'recordings'))
  const now = Date.now()
  const q = (metric: string, fn: () => unknown) => {
    fn()
    const xs: number[] = []
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now()
      fn()
      xs.push(performance.now() - t0)
    }
    report({ bench: 'startup', metric: `index at 1M: ${metric}`, value: xs.sort((a, b) => a - b)[2]!, unit: 'ms', note: 'count + first page of 50' })
  }
  q('no filter', () => ix.find({}))
  q('one day (from/to)', () => ix.find({ from: now - 10 * DAY, to: now - 9 * DAY }))
  q('phone part, 11 matches', () => ix.find({ phone: '0012345' }))
  q('channel, no box (34,000)', () => ix.find({ channel: 7 }))
  q('callid', () => ix.find({ callid: 'c500-7' }))
  db.close()
}

// the one-time full build (a store from before the SQLite index, or the database moved away) at 100,000
const small = dataset(100_000, 0)
say(`  data set: ${small.dir}: ${small.genSeconds === null ? 'cached' : `generated in ${small.genSeconds.toFixed(0)} s`}`)
const dbFile = join(small.dir, 'telbridge.db')
for (const ext of ['', '-wal', '-shm']) if (existsSync(dbFile + ext)) renameSync(dbFile + ext, `${dbFile}${ext}.kept`)
try {
  const full = await daemonStart(small.dir)
  report({
    bench: 'startup',
    metric: 'baseline: full sidecar build at 100,000',
    value: full.ms,
    unit: 'ms',
    note: `CPU ${(full.cpuMs / 1000).toFixed(1)} s, RSS ${full.rss.toFixed(1)} MB (before: 17.9 s / 333 MB at every start)`,
  })
} finally {
  for (const ext of ['', '-wal', '-shm']) {
    rmSync(dbFile + ext, { force: true })
    if (existsSync(`${dbFile}${ext}.kept`)) renameSync(`${dbFile}${ext}.kept`, dbFile + ext)
  }
}
finish()
