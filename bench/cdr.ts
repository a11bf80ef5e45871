/**
 * Call-log queries (issue 13): GET /v1/cdr over 1,000,000 calls.
 *
 *  - data: 1,000,000 finished calls over three years (~913 a day) from 5 sources × 30 agents, the
 *    other party drawn from 200,000 numbers (mobiles and landlines), 60 % with a recording. Built once
 *    with plain INSERTs (the FTS triggers on) into `<tmpdir>/telbridge-bench-cdr-<tag>/telbridge.db`;
 *    the tag is a hash of the schema, so a schema change builds a new file. Later runs reuse it.
 *  - measured: sequential GET /v1/cdr on a real Daemon (started on that dataDir, 127.0.0.1), p50/p99
 *    per kind, a fresh query each time (random prefix, substring, agent and day):
 *      prefix     phone=<the first 7 digits of a number>
 *      substring  phone=<5 digits from the middle of a number>
 *      agent+day  agent=<id>&from=<day>&to=<day>
 *      newest     no filter: the first page (100)
 *  - baseline, same run, interleaved blocks: the same statements through better-sqlite3 on a second
 *    connection (CallQuery.page: the SQL and the row decoding, no HTTP, no JSON).
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { CallQuery } from '../daemon/core/calls/query.js'
import { parseCdrQuery, type CdrQuery } from '../daemon/core/calls/routes.js'
import { MIGRATIONS, openDb, type Db } from '../daemon/core/db.js'
import { Daemon } from '../daemon/daemon.js'
import { finish, fixed, int, load, mb, pct, report, say } from './common.js'

const N = 1_000_000
const DAYS = 3 * 365
const SOURCES = ['lq', 'vk', 'gx', 'yt', '800hu-a1b2c3d4e5f6']
const AGENTS = 30
const NUMBERS = 200_000
const END = Date.parse('2026-12-01T00:00:00+08:00')
const ZONE = 'Asia/Shanghai'
const BLOCK = 100
const BLOCKS = 10

/** mulberry32: the same data and queries every run */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function numbers(): string[] {
  const r = rng(7)
  const d = (n: number) => {
    let s = ''
    for (let i = 0; i < n; i++) s += Math.floor(r() * 10)
    return s
  }
  const areas = ['10', '21', '25', '755']
  return Array.from({ length: NUMBERS }, (_, i) => (i % 4 === 3 ? `0${areas[Math.floor(r() * areas.length)]}${d(8)}` : `1${3 + Math.floor(r() * 7)}${d(9)}`))
}

function build(db: Db, phones: string[]): void {
  const r = rng(11)
  const ins = db.prepare(
    `INSERT INTO calls (id, source, channel, agent, direction, phone, started_ms, answered_ms, ended_ms, ring_s, talk_s, disposition, recordings, vendor_ids, pop_data, memo, inputs, updated_ms)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)`,
  )
  const span = DAYS * 86_400_000
  const start = END - span
  const DISP = ['answered', 'answered', 'answered', 'answered', 'missed', 'busy', 'failed', 'abandoned']
  const CHUNK = 50_000
  for (let c = 0; c < N; c += CHUNK) {
    db.transaction(() => {
      for (let i = c; i < Math.min(N, c + CHUNK); i++) {
        const s = SOURCES[Math.floor(r() * SOURCES.length)]!
        const a = String(801 + Math.floor(r() * AGENTS))
        const t = start + Math.floor((i / N) * span) + Math.floor(r() * 60_000)
        const disp = DISP[Math.floor(r() * DISP.length)]!
        const ring = Math.floor(r() * 20)
        const talk = disp === 'answered' ? Math.floor(r() * 600) : 0
        const rec = disp === 'answered' && r() < 0.8 ? JSON.stringify([{ kind: 'local', id: `r${i}`, contentType: 'audio/wav', size: talk * 16000 }]) : null
        const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`
        ins.run(
          id,
          s,
          String(Number(a) - 800),
          a,
          r() < 0.6 ? 'inbound' : 'outbound',
          phones[Math.floor(r() * phones.length)]!,
          t,
          disp === 'answered' ? t + ring * 1000 : null,
          t + (ring + talk) * 1000,
          ring,
          talk,
          disp,
          rec,
          JSON.stringify({ uniqueid: `u${i}` }),
          'log',
          t + (ring + talk) * 1000,
        )
      }
    })()
  }
}

/** The day (in ZONE) of a call some way back, as YYYY-MM-DD. */
function day(r: () => number): string {
  const t = END - Math.floor(r() * DAYS) * 86_400_000 - 3600_000
  return new Date(t + 8 * 3600_000).toISOString().slice(0, 10)
}

const tag = createHash('sha256')
  .update(MIGRATIONS.map((m) => m.up.toString()).join('\n') + build.toString() + numbers.toString())
  .digest('hex')
  .slice(0, 10)
const dir = join(tmpdir(), `telbridge-bench-cdr-${tag}`)
const file = join(dir, 'telbridge.db')
const phones = numbers()
if (!existsSync(join(dir, 'built'))) {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const t0 = performance.now()
  const db = openDb(dir)
  build(db, phones)
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
  mkdirSync(join(dir, 'built'))
  say(`  built ${int(N)} calls in ${((performance.now() - t0) / 1000).toFixed(1)} s (with the phone trigram index) → ${file}`)
} else say(`  reusing ${file} (${int(N)} calls)`)
say(`  database: ${fixed(mb(statSync(file).size), 1)} MB`)

const daemon = new Daemon(parseConfig({ dataDir: dir, timeZone: ZONE, api: { host: '127.0.0.1', port: 0 } }), { log: pino({ level: 'silent' }) })
const { apiUrl } = await daemon.start()
const direct = new CallQuery(openDb(dir))

const r = rng(23)
const kinds: Record<string, () => CdrQuery> = {
  prefix: () => ({ phone: phones[Math.floor(r() * phones.length)]!.slice(0, 7) }),
  substring: () => ({ phone: phones[Math.floor(r() * phones.length)]!.slice(4, 9) }),
  'agent+day': () => {
    const d = day(r)
    return { agent: String(801 + Math.floor(r() * AGENTS)), from: d, to: d }
  },
  newest: () => ({}),
}

const samples: Record<string, { http: number[]; sql: number[]; rows: number }> = Object.fromEntries(Object.keys(kinds).map((k) => [k, { http: [], sql: [], rows: 0 }]))
for (let b = -1; b < BLOCKS; b++) {
  for (const [name, make] of Object.entries(kinds)) {
    const s = samples[name]!
    for (let i = 0; i < BLOCK; i++) {
      const q = make()
      const qs = new URLSearchParams(q as Record<string, string>).toString()
      const t0 = performance.now()
      const res = await fetch(`${apiUrl}/v1/cdr${qs ? '?' + qs : ''}`)
      const body = (await res.json()) as { calls: unknown[] }
      const t1 = performance.now()
      if (res.status !== 200) throw new Error(`${qs}: ${res.status} ${JSON.stringify(body)}`)
      const t2 = performance.now()
      const page = direct.page(parseCdrQuery(q, ZONE, 100))
      const t3 = performance.now()
      if (b >= 0) {
        s.http.push(t1 - t0)
        s.sql.push(t3 - t2)
        s.rows += body.calls.length
        if (page.calls.length !== body.calls.length) throw new Error(`${qs}: HTTP ${body.calls.length} rows, direct ${page.calls.length}`)
      }
    }
  }
}

const AIMED = new Set(['prefix', 'agent+day'])
for (const [name, s] of Object.entries(samples)) {
  const aim = AIMED.has(name) ? { op: '<' as const, value: 20 } : undefined
  const n = s.http.length
  report({ bench: 'cdr', metric: `${name} HTTP p50`, value: pct(s.http, 50), unit: 'ms', note: `${n} queries, ${fixed(s.rows / n, 1)} rows each on average` })
  report({ bench: 'cdr', metric: `${name} HTTP p99`, value: pct(s.http, 99), unit: 'ms', ...(aim ? { aim } : {}) })
  report({ bench: 'cdr', metric: `${name} SQL p50`, value: pct(s.sql, 50), unit: 'ms', note: 'baseline: better-sqlite3, no HTTP' })
  report({ bench: 'cdr', metric: `${name} SQL p99`, value: pct(s.sql, 99), unit: 'ms' })
}
say(`  ${load()}`)
direct.db.close()
await daemon.stop()
finish()
