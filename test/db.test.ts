import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import * as dbModule from '../daemon/core/db.js'
import { DB_FILE, DbVersionError, openDb, sqliteDriver } from '../daemon/core/db.js'
import { DB_CONTRACT_EXPECTED, dbContract } from './helpers/db-contract.mjs'
import { daemonRig } from './helpers/rig.js'
import { getJson } from './helpers/sse.js'

/**
 * The database layer: the `Db` subset on the driver this Node has (better-sqlite3 here; node:sqlite
 * is Node >= 22 and runs the same contract in test/windows/sqlite.test.ts), and a daemon whose
 * database cannot open starting anyway, its call log and agents answering 503.
 */

const tmp = (t: any): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tb-db-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('the Db contract on better-sqlite3', async (t) => {
  t.equal(sqliteDriver().name, 'better-sqlite3', 'better-sqlite3 loads on Linux Node 20')
  const got = dbContract(dbModule, tmp(t))
  t.equal(got.driver, 'better-sqlite3')
  const { driver: _driver, ...rest } = got
  t.same(rest, DB_CONTRACT_EXPECTED)
})

t.test(
  'node:sqlite is not in Node 20: the contract runs under Windows Node 22 (test/windows/sqlite.test.ts)',
  { skip: Number(process.versions.node.split('.')[0]) >= 22 ? false : `Node ${process.version} has no node:sqlite` },
  async (t) => {
    const { spawnSync } = await import('node:child_process')
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import('./dist/daemon/core/db.js').then(m => console.log(m.sqliteDriver().name))`], {
      env: { ...process.env, TELBRIDGE_SQLITE: 'node:sqlite' },
      encoding: 'utf8',
    })
    t.equal(r.stdout.trim(), 'node:sqlite')
  },
)

t.test('TELBRIDGE_SQLITE=none: no driver, the daemon runs without its database and logs one error saying so', async (t) => {
  const { spawn } = await import('node:child_process')
  const { writeFileSync } = await import('node:fs')
  const dir = tmp(t)
  const config = join(dir, 'config.json')
  writeFileSync(config, JSON.stringify({ api: { host: '127.0.0.1', port: 0 }, dataDir: join(dir, 'data') }))
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'helpers', 'daemon-child.ts'), config], {
    env: { ...process.env, TELBRIDGE_SQLITE: 'none', TB_TEST_LOG: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => void child.kill('SIGKILL'))
  let out = ''
  let log = ''
  child.stderr.on('data', (b: Buffer) => (log += b))
  const started = await new Promise<{ apiUrl: string }>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!))
    })
    child.once('exit', (code) => reject(new Error(`exit ${code}: ${log}`)))
  })
  const health = await getJson(`${started.apiUrl}/v1/health`)
  t.match(health.body.database, { ok: false, driver: null, error: /no SQLite driver loads \(TELBRIDGE_SQLITE=none\)/ })
  t.equal((await getJson(`${started.apiUrl}/v1/cdr`)).body.error?.code, 'CALL_LOG_UNAVAILABLE')
  const errors = log
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((l) => l.level >= 50)
  t.equal(errors.length, 1, 'one error logged')
  t.match(errors[0]?.msg, /^database unavailable, running without the call log, agents and recording index .*docs\/troubleshooting\.md/)
  child.kill('SIGTERM')
  await new Promise((r) => child.once('exit', r))
})

t.test('a database of a newer schema is refused with DbVersionError', async (t) => {
  const dir = tmp(t)
  const raw = new Database(join(dir, DB_FILE))
  raw.pragma('user_version = 999')
  raw.close()
  t.throws(() => openDb(dir), DbVersionError)
})

async function degraded(t: any, dataDir: string, error: RegExp) {
  const rig = await daemonRig({ dataDir }, { t })
  t.equal(rig.daemon.db, null, 'no database')
  const channels = await getJson(`${rig.api}/v1/channels`)
  t.equal(channels.status, 200, '/v1/channels works')
  const health = await getJson(`${rig.api}/v1/health`)
  t.equal(health.status, 200)
  t.equal(health.body.status, 'ok', 'the daemon is alive')
  t.match(health.body.database, { ok: false, driver: 'better-sqlite3', error })
  t.notMatch(health.body.database.error, dataDir, 'no path on the public route')
  for (const path of ['/v1/cdr', '/v1/cdr/x', '/v1/cdr.csv', '/v1/agents', '/v1/agents/lq:801']) {
    const r = await getJson(`${rig.api}${path}`)
    t.equal(r.status, 503, `${path} is 503`)
    t.equal(r.body.error?.code, 'CALL_LOG_UNAVAILABLE', `${path}: CALL_LOG_UNAVAILABLE`)
    t.match(r.body.error?.message, error, `${path}: the message says why`)
  }
  // the tracker announces a finished call and keeps nothing
  const call = await rig.daemon.calls.report({
    source: 'lq',
    channel: '1',
    direction: 'inbound',
    phone: '13800138000',
    startedAt: Date.now() - 5000,
    endedAt: Date.now(),
    disposition: 'missed',
    input: 'log',
  })
  t.match(call, { phone: '13800138000', disposition: 'missed' }, 'a report resolves with the call, announced and not stored')
  await rig.stop()
}

t.test('degraded start: user_version 999', async (t) => {
  const dir = tmp(t)
  const raw = new Database(join(dir, DB_FILE))
  raw.pragma('user_version = 999')
  raw.close()
  await degraded(t, dir, /schema version 999, newer than this telbridge knows/)
})

t.test('degraded start: the database path is a directory', async (t) => {
  const dir = tmp(t)
  mkdirSync(join(dir, DB_FILE))
  await degraded(t, dir, /unable to open database file|directory/)
})

t.test('degraded start: a corrupt file', async (t) => {
  const dir = tmp(t)
  const { writeFileSync } = await import('node:fs')
  writeFileSync(join(dir, DB_FILE), Buffer.alloc(8192, 0x5a))
  await degraded(t, dir, /file is not a database/)
})
