import t from 'tap'
import { spawnSync } from 'node:child_process'
import { copyFile, mkdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import { DbDamagedError, DbVersionError, openDb, totals } from '../daemon/core/db.js'
import { CallLog } from '../daemon/core/calls/log.js'
import { CallRetention } from '../daemon/core/calls/retention.js'
import type { Call } from '../daemon/core/calls/types.js'
import { dayDir, put, storeRig, wav } from './helpers/recordings.js'
import { daemonRig } from './helpers/rig.js'
import { getJson } from './helpers/sse.js'

const DAY = 86400_000
// the CLI as users run it: the compiled bin (npm test builds first)
const CLI = join(import.meta.dirname, '..', 'dist', 'daemon', 'cli.js')
const secs = (ms: number) => String(Math.floor(ms / 1000))
/** Give a day directory the mtime of its own day, as a store running for years has. */
const age = (dir: string, ms: number) => utimes(dir, new Date(ms), new Date(ms))

t.test('a restart rescans only the day directories changed since the last commit', async (t) => {
  const old = Date.UTC(2024, 4, 1, 12)
  const r = await storeRig(t)
  const a = await put(r.store, 'a', wav(100), { fields: { start_time_secs: secs(old) } })
  await put(r.store, 'b', wav(100), { fields: { start_time_secs: secs(old + DAY) } })
  const dayA = join(r.store.root, dayDir(Date.parse(a.record.time)))
  const dayB = join(r.store.root, dayDir(old + DAY))
  await r.store.close()
  // a copy slipped in by hand into an old day, its directory's mtime put back: not seen without a reindex
  await copyFile(join(dayA, 'a.wav'), join(dayA, 'hand.wav'))
  await writeFile(join(dayA, 'hand.wav.json'), (await readFile(join(dayA, 'a.wav.json'), 'utf8')).replace(/"a"/g, '"hand"').replace('a.wav', 'hand.wav'))
  await age(dayA, old)
  await age(dayB, old + DAY)
  // a crash after the files were placed, before the row: the directory's mtime is new
  await copyFile(join(dayB, 'b.wav'), join(dayB, 'late.wav'))
  await writeFile(join(dayB, 'late.wav.json'), (await readFile(join(dayB, 'b.wav.json'), 'utf8')).replace(/"b"/g, '"late"').replace('b.wav', 'late.wav'))
  const r2 = await r.reopen()
  const line = r2.logs.find((l) => l.msg === 'recording index reconciled')
  t.match(line, { mode: 'changed', days: 2, daysScanned: 1, added: 1 }, 'one day scanned, the changed one')
  t.same(
    r2.store.find({ order: 'asc' }).recordings.map((x) => x.id),
    ['a', 'b', 'late'],
  )
  t.notOk(r2.store.get('hand'), 'an unchanged day is not read again')

  const st = await r2.store.reindex()
  t.match(st, { mode: 'full', reason: 'reindex', days: 2, daysScanned: 2, indexed: 4, added: 1, removed: 0 })
  t.equal(r2.store.get('hand')?.file, `${dayDir(old)}/hand.wav`, 'reindex finds it')
  t.same(r2.store.totals(), { count: 4, bytes: 400 })

  // a day directory deleted by hand: its rows go at the next start
  await r2.store.close()
  await rm(dayB, { recursive: true })
  const r3 = await r2.reopen()
  t.same(
    r3.store.find({ order: 'asc' }).recordings.map((x) => x.id),
    ['a', 'hand'],
  )
  t.ok(r3.logs.some((l) => /gone from disk/.test(l.msg) && l.removed === 2))
})

t.test('a new database, or a clock behind the last commit, builds the index from every sidecar once', async (t) => {
  const r = await storeRig(t)
  for (let i = 0; i < 5; i++) await put(r.store, `n${i}`, wav(100 + i), { fields: { start_time_secs: secs(Date.UTC(2024, 0, 1 + i, 12)) } })
  await r.store.close()
  for (const ext of ['', '-wal', '-shm']) await rm(join(r.dataDir, `telbridge.db${ext}`), { force: true })
  const r2 = await r.reopen()
  t.match(
    r2.logs.find((l) => /built from every sidecar/.test(l.msg)),
    { mode: 'full', reason: 'a new database', indexed: 5 },
  )
  t.equal(r2.store.size, 5)
  // the next start is incremental again
  await r2.store.close()
  const r3 = await r2.reopen()
  t.match(
    r3.logs.find((l) => l.msg === 'recording index reconciled'),
    { mode: 'changed' },
  )
  await r3.store.close()
  // the clock went back (or the database came from a machine ahead): every day again
  const db = openDb(r.dataDir)
  db.prepare("UPDATE meta SET value = ? WHERE key = 'recordings.syncedAt'").run(String(Date.now() + 10 * DAY))
  db.close()
  const r4 = await r3.reopen()
  t.match(
    r4.logs.find((l) => /built from every sidecar/.test(l.msg)),
    { mode: 'full', reason: /clock is behind/ },
  )
  t.equal(r4.store.size, 5)
})

t.test('reindex leaves alone what a running daemon may be writing', async (t) => {
  const r = await storeRig(t)
  const x = await put(r.store, 'x', wav(100))
  const day = join(r.store.root, dayDir(Date.parse(x.record.time)))
  // placed, sidecar not yet written: a commit in progress
  await writeFile(join(day, 'inflight.wav'), wav(100))
  await writeFile(join(day, '.inflight.wav.json.12345678.tmp'), '{')
  const st = await r.store.reindex()
  t.match(st, { orphans: 0, tempsRemoved: 0, indexed: 1 })
  t.ok(await readFile(join(day, 'inflight.wav')), 'not moved to orphans')
  // an hour later it is a crash's leftover
  const old = new Date(Date.now() - 2 * 3600_000)
  await utimes(join(day, 'inflight.wav'), old, old)
  await utimes(join(day, '.inflight.wav.json.12345678.tmp'), old, old)
  t.match(await r.store.reindex(), { orphans: 1, tempsRemoved: 1 })
})

t.test('the index answers the filters the API uses', async (t) => {
  const r = await storeRig(t)
  const base = Date.UTC(2024, 6, 1, 8)
  for (let i = 0; i < 20; i++) {
    await put(r.store, `f${i}`, wav(100), {
      fields: { start_time_secs: secs(base + i * 3600_000), channel: String((i % 4) + 1), callid_dialed: `1380000${String(i).padStart(4, '0')}`, direction: i % 2 ? 'in' : 'out' },
    })
  }
  await put(r.store, 'f3', wav(101), { fields: { start_time_secs: secs(base + 3 * 3600_000) } })
  t.equal(r.store.find({ channel: 2 }).total, 5)
  t.same(
    r.store.find({ phone: '00012' }).recordings.map((x) => x.id),
    ['f12'],
  )
  t.same(
    r.store.find({ from: base + 18 * 3600_000 }).recordings.map((x) => x.id),
    ['f19', 'f18'],
    'newest first',
  )
  t.same(
    r.store.find({ from: base, to: base + 2 * 3600_000, order: 'asc' }).recordings.map((x) => x.id),
    ['f0', 'f1'],
    'to is exclusive',
  )
  t.same(
    r.store.find({ callid: 'f3', order: 'asc' }).recordings.map((x) => x.id),
    ['f3', 'f3~2'],
  )
  t.match(r.store.find({ limit: 5, offset: 18 }), { total: 21, offset: 18, limit: 5 })
  t.equal(r.store.find({ limit: 5, offset: 18 }).recordings.length, 3)
  t.equal(r.store.find({ direction: 'inbound', box: '00000000000a' }).total, 11)
  t.ok(r.store.setCallId('f3', 'call-1'))
  t.notOk(r.store.setCallId('nope', 'call-1'))
})

const call = (i: number, startedMs: number, endedMs: number | null): Call => ({
  id: `c${i}`,
  source: 's',
  channel: '1',
  agent: '801',
  direction: 'inbound',
  phone: '138',
  startedMs,
  answeredMs: null,
  endedMs,
  ringSeconds: null,
  talkSeconds: null,
  disposition: 'missed',
  recordings: [],
  vendorIds: { callid: `v${i}` },
  popData: null,
  memo: null,
  inputs: ['line'],
  updatedMs: startedMs,
})

t.test('calls.keepDays deletes old calls and their keys in small batches', async (t) => {
  const db = openDb('', { file: ':memory:' })
  t.teardown(() => db.close())
  const log = new CallLog(db)
  const now = Date.UTC(2025, 0, 31)
  const calls: Call[] = []
  for (let i = 0; i < 25; i++) calls.push(call(i, now - 40 * DAY + i * 1000, now - 40 * DAY + i * 1000 + 60_000))
  // started before the cutoff, ended after it: kept
  calls.push(call(100, now - 30 * DAY - 1000, now - 30 * DAY + 5000))
  // no end, started long ago: by its start
  calls.push(call(101, now - 31 * DAY, null))
  calls.push(call(102, now - DAY, now - DAY + 1000))
  log.write(calls)
  t.equal(totals(db, 'calls').count, 28)
  log.write([{ ...calls[0]!, memo: 'updated' }])
  t.equal(totals(db, 'calls').count, 28, 'an update (upsert) is not counted again')
  const ret = new CallRetention({ db, keepDays: 30, log: pino({ level: 'silent' }), now: () => now, batch: 4 })
  t.equal(await ret.sweep(), 26)
  t.same((db.prepare('SELECT id FROM calls ORDER BY id').pluck().all() as string[]).sort(), ['c100', 'c102'])
  t.equal(db.prepare('SELECT count(*) FROM call_keys').pluck().get(), 2, 'their vendor keys went with them')
  t.equal(totals(db, 'calls').count, 2, 'the count the triggers keep')
  t.equal(log.byKey('s|callid|v0'), undefined)
  t.equal(await ret.sweep(), 0)
  await ret.stop()
  // absent keepDays: nothing
  const keep = new CallRetention({ db, keepDays: undefined, log: pino({ level: 'silent' }) })
  keep.start()
  t.equal(await keep.sweep(), 0)
  await keep.stop()
})

t.test('/v1/health reports the call log, the index and the database in counts and bytes', async (t) => {
  const r = await daemonRig({ api: { token: 'x'.repeat(24) } }, { t })
  const h = await getJson(`${r.api}/v1/health`)
  t.equal(h.status, 200, 'no token needed')
  t.match(h.body, { status: 'ok', storage: { calls: { count: 0 }, recordings: { count: 0, bytes: 0 }, database: { bytes: Number } } })
  t.ok(h.body.storage.database.bytes > 0)
  t.type(h.body.storage.database.walBytes, 'number')
  r.daemon.calls.callLog!.write([call(1, Date.now() - 1000, Date.now())])
  t.equal((await getJson(`${r.api}/v1/health`)).body.storage.calls.count, 1)
})

t.test('a day directory moved away takes its rows out of the index', async (t) => {
  const r = await storeRig(t)
  const when = Date.UTC(2023, 1, 3, 12)
  await put(r.store, 'mv', wav(100), { fields: { start_time_secs: secs(when) } })
  await r.store.close()
  const from = join(r.store.root, dayDir(when))
  const toParent = join(r.store.root, 'moved')
  await mkdir(toParent, { recursive: true })
  await rename(from, join(toParent, 'x'))
  const r2 = await r.reopen()
  t.equal(r2.store.size, 0, 'nothing indexed that is not under a day directory')
  t.equal(r2.store.get('mv'), undefined)
})

t.test('telbridge reindex rebuilds the index and prints counts and time', async (t) => {
  const r = await storeRig(t)
  const when = Date.UTC(2024, 2, 3, 12)
  await put(r.store, 'cli1', wav(100), { fields: { start_time_secs: secs(when) } })
  await put(r.store, 'cli2', wav(200), { fields: { start_time_secs: secs(when) } })
  const day = join(r.store.root, dayDir(when))
  await writeFile(join(day, 'bad.wav'), wav(10))
  await writeFile(join(day, 'bad.wav.json'), '{')
  // the daemon (here: the store) keeps the database open meanwhile, as a running daemon would
  const cfg = join(r.dataDir, 'c.json')
  await writeFile(cfg, JSON.stringify({ api: { port: 0 }, dataDir: r.dataDir }))
  const out = spawnSync(process.execPath, [CLI, 'reindex', '--config', cfg], { encoding: 'utf8', timeout: 30000 })
  t.equal(out.status, 0, out.stderr)
  t.match(
    out.stdout,
    /^recording index rebuilt in \d+\.\d s: 1 day directories, 2 sidecars indexed \(0 new, 0 rows removed\), 1 not indexed \(logged\), 0 audio files .*the index holds 2 recordings, 300 bytes\n$/,
  )
  t.match(out.stderr, /sidecar not indexed/)
  t.equal(r.store.size, 2, 'the running store sees the same index')
  const usage = spawnSync(process.execPath, [CLI, 'reindex'], { encoding: 'utf8', timeout: 30000 })
  t.equal(usage.status, 2)
  t.match(usage.stderr, /reindex needs --config FILE/)
})

t.test('a damaged or newer telbridge.db is refused with what to do', async (t) => {
  const r = await storeRig(t)
  await r.store.close()
  await writeFile(join(r.dataDir, 'telbridge.db'), Buffer.alloc(8192, 7))
  for (const ext of ['-wal', '-shm']) await rm(join(r.dataDir, `telbridge.db${ext}`), { force: true })
  const err = (() => {
    try {
      openDb(r.dataDir)
    } catch (e) {
      return e as Error
    }
  })()
  t.type(err, DbDamagedError)
  t.match(err?.message, /telbridge\.db cannot be used: file is not a database\. Stop telbridge and move it away/)
  await rm(join(r.dataDir, 'telbridge.db'))
  const db = openDb(r.dataDir)
  db.pragma('user_version = 99')
  db.close()
  t.throws(() => openDb(r.dataDir), DbVersionError)
})
