import t from 'tap'
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DB_CONTRACT_EXPECTED } from '../helpers/db-contract.mjs'
import { cDrive, cPath, runWin, windowsEnv, windowsUnavailable, winPath } from '../helpers/windows.js'

/**
 * The Db contract (test/helpers/db-contract.mjs, run on better-sqlite3 by test/db.test.ts) on
 * node:sqlite: Windows Node 22 x86 under Wine has no better-sqlite3 binary, so the daemon's
 * dist/daemon/core/db.js picks node:sqlite there, and must give the same results.
 */

const why = windowsUnavailable('ia32')
t.setTimeout(300_000)
const HERE = dirname(fileURLToPath(import.meta.url))

t.test('Windows (Node 22 ia32 under Wine): the Db contract on node:sqlite', { skip: why ? `Windows group skipped: ${why}` : false, timeout: 240_000 }, async (t) => {
  const env = await windowsEnv('ia32')
  t.comment(`node.exe ${env.version} ${env.arch}`)
  const run = `sqlite-${process.pid}`
  const dir = cDrive(env, 'tbwin', run)
  mkdirSync(dir, { recursive: true })
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  copyFileSync(join(HERE, '..', 'helpers', 'db-contract.mjs'), join(dir, 'db-contract.mjs'))
  const dbUrl = 'file:///' + winPath(join(env.tree, 'dist', 'daemon', 'core', 'db.js')).replace(/\\/g, '/')
  writeFileSync(
    join(dir, 'run.mjs'),
    `import * as db from ${JSON.stringify(dbUrl)}
import { dbContract } from './db-contract.mjs'
const out = { driver: db.sqliteDriver(), contract: dbContract(db, ${JSON.stringify(cPath('tbwin', run, 'data'))}) }
const raw = db.openDb(${JSON.stringify(cPath('tbwin', run, 'v999'))})
raw.pragma('user_version = 999')
raw.close()
try { db.openDb(${JSON.stringify(cPath('tbwin', run, 'v999'))}); out.v999 = 'opened' } catch (err) { out.v999 = err.name }
console.log(JSON.stringify(out))
`,
  )
  const r = await runWin(env, [cPath('tbwin', run, 'run.mjs')], { timeoutMs: 120_000 })
  t.equal(r.code, 0, `exit 0 ${r.stderr.slice(-2000)}`)
  t.notMatch(r.stderr, /ExperimentalWarning/, "node:sqlite's experimental warning is not printed")
  const out = JSON.parse(r.stdout.trim().split(/\r?\n/).pop()!)
  t.equal(out.driver.name, 'node:sqlite', 'node:sqlite chosen')
  t.match(out.driver.failures[0], /^better-sqlite3: no native binary/, 'better-sqlite3 tried first')
  const { driver, ...rest } = out.contract
  t.equal(driver, 'node:sqlite')
  t.same(rest, DB_CONTRACT_EXPECTED, 'the same results as better-sqlite3')
  t.equal(out.v999, 'DbVersionError')
})
