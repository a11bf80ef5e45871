// The part of the SQLite API telbridge uses (daemon/core/db.ts `Db`), exercised on one driver and
// returned as plain JSON: test/db.test.ts runs it on better-sqlite3 under Linux Node 20, and
// test/windows/sqlite.test.ts on node:sqlite under Windows Node 22 (plain JS: the Windows run tree
// has dist/ only), and both compare with the same expected object.

/** @param {{ openDb: Function, MIGRATIONS: unknown[] }} mod dist/daemon/core/db.js or its source */
export function dbContract(mod, dataDir) {
  const db = mod.openDb(dataDir)
  try {
    const out = { driver: db.driver }
    out.journalMode = db.pragma('journal_mode', { simple: true })
    out.userVersion = db.pragma('user_version', { simple: true })
    out.pragmaRows = db.pragma('user_version').map((r) => ({ ...r }))
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER)')
    const ins = db.prepare('INSERT INTO t (a, b) VALUES (@a, @b)')
    out.run1 = ins.run({ a: 'x', b: 1 })
    out.run2 = db.prepare('INSERT INTO t (a, b) VALUES (:a, $b)').run({ a: 'y', b: 2 })
    out.runExtraKey = db.prepare('UPDATE t SET b = @b WHERE id = @id').run({ id: 2, b: 2, unused: 'ignored' }).changes
    out.runPositional = db.prepare('INSERT INTO t (a, b) VALUES (?, ?)').run('z', 3)
    out.get = { ...db.prepare('SELECT a, b FROM t WHERE id = ?').get(2) }
    out.getNone = db.prepare('SELECT a FROM t WHERE id = ?').get(99) ?? 'undefined'
    out.all = db
      .prepare('SELECT a, b FROM t ORDER BY id')
      .all()
      .map((r) => ({ ...r }))
    out.pluckAll = db.prepare('SELECT a FROM t ORDER BY id').pluck().all()
    out.pluckGet = db.prepare('SELECT count(*) FROM t').pluck().get()
    out.iterate = [...db.prepare('SELECT b FROM t WHERE b >= ? ORDER BY b').pluck().iterate(2)]
    out.changes = db.prepare('UPDATE t SET b = b + 10 WHERE b < ?').run(3).changes
    // transactions: commit, a throw rolls back, a nested one is a savepoint
    const tx = db.transaction((n) => {
      ins.run({ a: 'tx', b: n })
      return n * 2
    })
    out.txReturn = tx(7)
    try {
      db.transaction(() => {
        ins.run({ a: 'gone', b: 0 })
        throw new Error('boom')
      })()
    } catch (err) {
      out.txThrew = err.message
    }
    db.transaction(() => {
      ins.run({ a: 'outer', b: 0 })
      try {
        db.transaction(() => {
          ins.run({ a: 'inner', b: 0 })
          throw new Error('inner')
        })()
      } catch {
        // the inner one is undone, the outer one goes on
      }
      out.inTransaction = db.inTransaction
    })()
    out.afterTx = db.prepare('SELECT a FROM t WHERE b IN (0, 7) ORDER BY id').pluck().all()
    out.inTransactionAfter = db.inTransaction
    // the call log's phone index: FTS5 with the trigram tokenizer, LIKE through it
    db.prepare('INSERT INTO calls (id, source, phone, started_ms, disposition, inputs, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)').run('c1', 's', '13800138000', 1, 'answered', 'line', 1)
    out.fts = db.prepare('SELECT phone FROM call_phones_fts WHERE phone LIKE ?').pluck().all('%0013%')
    out.constraint = (() => {
      try {
        db.prepare('INSERT INTO calls (id, source, started_ms, disposition, inputs, updated_ms) VALUES (?, ?, ?, ?, ?, ?)').run('c1', 's', 1, 'answered', 'line', 1)
        return 'no error'
      } catch (err) {
        return /UNIQUE constraint failed/.test(err.message) ? 'UNIQUE' : err.message
      }
    })()
    return out
  } finally {
    db.close()
  }
}

/** What dbContract returns on every driver. */
export const DB_CONTRACT_EXPECTED = {
  journalMode: 'wal',
  userVersion: 1,
  pragmaRows: [{ user_version: 1 }],
  run1: { changes: 1, lastInsertRowid: 1 },
  run2: { changes: 1, lastInsertRowid: 2 },
  runExtraKey: 1,
  runPositional: { changes: 1, lastInsertRowid: 3 },
  get: { a: 'y', b: 2 },
  getNone: 'undefined',
  all: [
    { a: 'x', b: 1 },
    { a: 'y', b: 2 },
    { a: 'z', b: 3 },
  ],
  pluckAll: ['x', 'y', 'z'],
  pluckGet: 3,
  iterate: [2, 3],
  changes: 2,
  txReturn: 14,
  txThrew: 'boom',
  inTransaction: true,
  afterTx: ['tx', 'outer'],
  inTransactionAfter: false,
  fts: ['13800138000'],
  constraint: 'UNIQUE',
}
