import { mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

/**
 * The daemon's SQLite database, `<dataDir>/telbridge.db`: the call log, the agent registry and the
 * recording index. WAL mode (readers never wait for the writer), `synchronous=NORMAL` (a commit is in
 * the WAL before `COMMIT` returns, so it survives the process being killed; a power cut may lose the
 * last commits, which the recording index recovers from its sidecars and the call log from the
 * vendors' own records). The schema version is SQLite's `user_version`; migrations only go forward.
 */

export type Params = unknown[]

/** A prepared statement: the part of better-sqlite3's Statement telbridge uses (both drivers give it). */
export interface Statement {
  run(...params: Params): { changes: number; lastInsertRowid: number | bigint }
  get(...params: Params): unknown
  all(...params: Params): unknown[]
  iterate(...params: Params): IterableIterator<unknown>
  /** rows as their first column's value */
  pluck(on?: boolean): this
}

/**
 * The database: the part of better-sqlite3's API telbridge uses, so that the same code runs on
 * better-sqlite3 or on Node's built-in node:sqlite (Windows, where npm has no better-sqlite3 binary).
 * Named parameters (`@x`, `:x`, `$x`) take an object argument without the prefix in both.
 */
export interface Db {
  /** which driver this connection is on */
  readonly driver: DriverName
  prepare(sql: string): Statement
  exec(sql: string): void
  /** `fn` wrapped in BEGIN/COMMIT (a SAVEPOINT when nested); a throw rolls back and rethrows */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R
  /** `PRAGMA <text>`: its rows, or with simple the first column of the first row */
  pragma(text: string, opts?: { simple?: boolean }): unknown
  readonly inTransaction: boolean
  close(): void
}

export type DriverName = 'better-sqlite3' | 'node:sqlite'

interface Driver {
  name: DriverName
  open(file: string): Db
}

const require = createRequire(import.meta.url)

/** better-sqlite3 loads its native addon at the first `new Database`: an in-memory one tells whether it is there. */
function betterSqlite3(): Driver {
  const Database = require('better-sqlite3') as typeof import('better-sqlite3')
  new Database(':memory:').close()
  return {
    name: 'better-sqlite3',
    open(file) {
      const db = new Database(file) as unknown as Omit<Db, 'driver'>
      return Object.assign(db, { driver: 'better-sqlite3' as const })
    },
  }
}

// node:sqlite as far as telbridge uses it (Node 20's @types/node has no types for it)
interface NodeStatement {
  run(...p: unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint }
  get(...p: unknown[]): unknown
  all(...p: unknown[]): unknown[]
  iterate(...p: unknown[]): IterableIterator<unknown>
  /** Node >= 22.15 */
  setAllowUnknownNamedParameters?(on: boolean): void
}
interface NodeDatabase {
  prepare(sql: string): NodeStatement
  exec(sql: string): void
  close(): void
  readonly isTransaction: boolean
}

function nodeSqlite(): Driver {
  // node:sqlite is Node >= 22.5 (unflagged from 22.13; 22.23 x86 under Wine has it with FTS5); Node 20 throws here
  // its one-time ExperimentalWarning would read like a fault on stderr: the start log names the driver instead
  const emit = Reflect.get(process, 'emitWarning') as (...a: unknown[]) => void
  process.emitWarning = (w: string | Error, ...rest: unknown[]) => {
    if (!/SQLite is an experimental feature/.test(String(w))) emit.call(process, w, ...rest)
  }
  let DatabaseSync: new (file: string) => NodeDatabase
  try {
    ;({ DatabaseSync } = require('node:sqlite') as { DatabaseSync: typeof DatabaseSync })
  } finally {
    process.emitWarning = emit
  }
  new DatabaseSync(':memory:').close()
  return { name: 'node:sqlite', open: (file) => new NodeSqliteDb(new DatabaseSync(file)) }
}

const first = (row: unknown): unknown => (row === undefined ? undefined : Object.values(row as object)[0])

class NodeSqliteStatement implements Statement {
  private plucked = false
  constructor(private readonly st: NodeStatement) {
    // better-sqlite3 ignores keys of a parameter object that the statement does not name
    st.setAllowUnknownNamedParameters?.(true)
  }
  run(...p: Params) {
    const r = this.st.run(...p)
    return { changes: Number(r.changes), lastInsertRowid: r.lastInsertRowid }
  }
  get(...p: Params): unknown {
    const r = this.st.get(...p)
    return this.plucked ? first(r) : r
  }
  all(...p: Params): unknown[] {
    const rows = this.st.all(...p)
    return this.plucked ? rows.map(first) : rows
  }
  *iterate(...p: Params): IterableIterator<unknown> {
    for (const r of this.st.iterate(...p)) yield this.plucked ? first(r) : r
  }
  pluck(on = true): this {
    this.plucked = on
    return this
  }
}

class NodeSqliteDb implements Db {
  readonly driver = 'node:sqlite' as const
  private savepoints = 0
  constructor(private readonly db: NodeDatabase) {}
  prepare(sql: string): Statement {
    return new NodeSqliteStatement(this.db.prepare(sql))
  }
  exec(sql: string): void {
    this.db.exec(sql)
  }
  get inTransaction(): boolean {
    return this.db.isTransaction
  }
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    return (...args: A): R => {
      const nested = this.db.isTransaction
      const sp = `tb_sp${++this.savepoints}`
      this.db.exec(nested ? `SAVEPOINT ${sp}` : 'BEGIN')
      let r: R
      try {
        r = fn(...args)
      } catch (err) {
        // a failed statement may already have ended the transaction (SQLITE_FULL, IOERR)
        if (this.db.isTransaction) this.db.exec(nested ? `ROLLBACK TO ${sp}; RELEASE ${sp}` : 'ROLLBACK')
        throw err
      } finally {
        this.savepoints--
      }
      this.db.exec(nested ? `RELEASE ${sp}` : 'COMMIT')
      return r
    }
  }
  pragma(text: string, opts: { simple?: boolean } = {}): unknown {
    const st = this.db.prepare(`PRAGMA ${text}`)
    if (opts.simple) return first(st.get())
    return st.all()
  }
  close(): void {
    this.db.close()
  }
}

/** /v1/health's `database` */
export interface DbHealth {
  ok: boolean
  /** the driver in use or that would be (null: none loads) */
  driver: DriverName | null
  /** the database file and its free pages, in bytes, when open */
  bytes?: number
  /** why it is not open */
  error?: string
}

export interface DriverState {
  /** the driver in use, or null when neither loads */
  name: DriverName | null
  /** why each driver that was tried did not load */
  failures: string[]
}

let chosen: { driver: Driver | null; failures: string[] } | null = null

/**
 * The SQLite driver, chosen once: better-sqlite3 when its native addon loads, else node:sqlite.
 * TELBRIDGE_SQLITE=better-sqlite3|node:sqlite|none forces one (tests; `none` runs the daemon without
 * a database).
 */
function driver(): { driver: Driver | null; failures: string[] } {
  if (chosen) return chosen
  const want = process.env.TELBRIDGE_SQLITE
  const failures: string[] = []
  let found: Driver | null = null
  for (const [name, load] of [
    ['better-sqlite3', betterSqlite3],
    ['node:sqlite', nodeSqlite],
  ] as const) {
    if (want && want !== name) continue
    try {
      found = load()
      break
    } catch (err) {
      const msg = (err as Error).message.split('\n')[0]!
      // the bindings package lists every path it tried: say what is missing instead
      failures.push(`${name}: ${/Could not locate the bindings file/.test(msg) ? 'no native binary (better_sqlite3.node) for this platform and Node' : msg}`)
    }
  }
  if (want && !found && want !== 'better-sqlite3' && want !== 'node:sqlite')
    failures.push(want === 'none' ? 'TELBRIDGE_SQLITE=none' : `TELBRIDGE_SQLITE=${want}: not a driver (better-sqlite3, node:sqlite, none)`)
  chosen = { driver: found, failures }
  return chosen
}

export function sqliteDriver(): DriverState {
  const d = driver()
  return { name: d.driver?.name ?? null, failures: d.failures }
}

/** No SQLite driver loads: the daemon runs without the call log, agents and recording index. */
export class DbDriverError extends Error {
  constructor(readonly failures: string[]) {
    super(`no SQLite driver loads (${failures.join('; ')}): install better-sqlite3's binary for this platform (npm ci on a machine that can download it) or run Node >= 22.13, which has node:sqlite`)
    this.name = 'DbDriverError'
  }
}

/** One forward step: `up` runs inside a transaction with the version bump. */
export interface Migration {
  readonly version: number
  readonly summary: string
  up(db: Db): void
}

export const DB_FILE = 'telbridge.db'

export class DbVersionError extends Error {
  constructor(
    readonly file: string,
    readonly found: number,
    readonly known: number,
  ) {
    super(`${file} has schema version ${found}, newer than this telbridge knows (${known}): it was written by a newer telbridge; run that version, or move the file away to start a new one`)
    this.name = 'DbVersionError'
  }
}

/** The file is not a database SQLite can use (damaged, or something else under that name). */
export class DbDamagedError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(
      `${file} cannot be used: ${reason}. Stop telbridge and move it away (with its -wal and -shm files): the next start makes a new one, rebuilds the recording index from the sidecars, and starts an empty call log (docs/troubleshooting.md)`,
    )
    this.name = 'DbDamagedError'
  }
}

/**
 * The migrations, in order. Version 1 is the first released schema: from now on a change is a new
 * entry at the end, never an edit of one that shipped.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    summary: 'call log, call keys, agents, recording index',
    up(db) {
      db.exec(`
        CREATE TABLE calls (
          seq INTEGER PRIMARY KEY,
          id TEXT NOT NULL UNIQUE,
          source TEXT NOT NULL,
          channel TEXT,
          agent TEXT,
          direction TEXT,
          phone TEXT,
          started_ms INTEGER NOT NULL,
          answered_ms INTEGER,
          ended_ms INTEGER,
          ring_s INTEGER,
          talk_s INTEGER,
          disposition TEXT NOT NULL,
          recordings TEXT,
          vendor_ids TEXT,
          pop_data TEXT,
          memo TEXT,
          inputs TEXT NOT NULL,
          updated_ms INTEGER NOT NULL
        );
        CREATE INDEX calls_started ON calls (started_ms, id);
        CREATE INDEX calls_source_started ON calls (source, started_ms);
        CREATE INDEX calls_agent_started ON calls (agent, started_ms) WHERE agent IS NOT NULL;
        CREATE INDEX calls_phone ON calls (phone, started_ms) WHERE phone IS NOT NULL;
        -- a vendor's id for a call ("<source>|<name>|<value>") → the call: how two inputs find one record
        CREATE TABLE call_keys (
          key TEXT PRIMARY KEY,
          call_id TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX call_keys_call ON call_keys (call_id);
        CREATE TABLE agents (
          id TEXT PRIMARY KEY,
          source TEXT NOT NULL,
          agent TEXT NOT NULL,
          name TEXT,
          channels TEXT,
          first_seen_ms INTEGER NOT NULL,
          last_seen_ms INTEGER NOT NULL
        ) WITHOUT ROWID;
        -- /v1/cdr phone search: every distinct number in the log (a number calls many times: this is a
        -- fifth of the calls' size) and its 3-character pieces (FTS5 trigram), so "contains 0013" is
        -- an index lookup of the numbers, then calls_phone for their calls. Kept by triggers; a number
        -- stays after its calls are deleted (it then matches nothing)
        CREATE TABLE call_phones (
          id INTEGER PRIMARY KEY,
          phone TEXT NOT NULL UNIQUE
        );
        CREATE VIRTUAL TABLE call_phones_fts USING fts5 (phone, content = 'call_phones', content_rowid = 'id', tokenize = 'trigram', detail = 'none');
        CREATE TRIGGER call_phones_fts_ins AFTER INSERT ON call_phones BEGIN
          INSERT INTO call_phones_fts (rowid, phone) VALUES (new.id, new.phone);
        END;
        CREATE TRIGGER calls_phone_ins AFTER INSERT ON calls WHEN new.phone IS NOT NULL BEGIN
          INSERT OR IGNORE INTO call_phones (phone) VALUES (new.phone);
        END;
        CREATE TRIGGER calls_phone_upd AFTER UPDATE OF phone ON calls WHEN new.phone IS NOT NULL AND old.phone IS NOT new.phone BEGIN
          INSERT OR IGNORE INTO call_phones (phone) VALUES (new.phone);
        END;
        CREATE TABLE meta (
          key TEXT PRIMARY KEY,
          value TEXT
        ) WITHOUT ROWID;
        -- the recording index: one row per indexed sidecar (the sidecars stay the truth; see docs/recordings.md)
        CREATE TABLE recordings (
          seq INTEGER PRIMARY KEY,
          id TEXT NOT NULL UNIQUE,
          callid TEXT NOT NULL,
          version INTEGER NOT NULL,
          dir TEXT NOT NULL,
          file TEXT NOT NULL,
          time_ms INTEGER NOT NULL,
          received_ms INTEGER NOT NULL,
          box TEXT NOT NULL,
          channel INTEGER,
          phone TEXT NOT NULL,
          direction TEXT,
          audio INTEGER NOT NULL,
          size INTEGER NOT NULL,
          sha256 TEXT NOT NULL,
          call_id TEXT,
          record TEXT NOT NULL
        );
        CREATE INDEX recordings_time ON recordings (time_ms, id);
        CREATE INDEX recordings_callid ON recordings (callid, version);
        CREATE INDEX recordings_dir ON recordings (dir);
        CREATE INDEX recordings_box ON recordings (box, channel, time_ms);
        CREATE INDEX recordings_phone ON recordings (phone, time_ms);
        CREATE INDEX recordings_call ON recordings (call_id) WHERE call_id IS NOT NULL;
        -- row counts and bytes kept by triggers, so /v1/health never counts a million rows
        CREATE TABLE totals (
          name TEXT PRIMARY KEY,
          count INTEGER NOT NULL,
          bytes INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO totals VALUES ('calls', 0, 0), ('recordings', 0, 0);
        CREATE TRIGGER calls_count_ins AFTER INSERT ON calls BEGIN UPDATE totals SET count = count + 1 WHERE name = 'calls'; END;
        CREATE TRIGGER calls_count_del AFTER DELETE ON calls BEGIN UPDATE totals SET count = count - 1 WHERE name = 'calls'; END;
        CREATE TRIGGER recordings_count_ins AFTER INSERT ON recordings BEGIN UPDATE totals SET count = count + 1, bytes = bytes + new.size WHERE name = 'recordings'; END;
        CREATE TRIGGER recordings_count_del AFTER DELETE ON recordings BEGIN UPDATE totals SET count = count - 1, bytes = bytes - old.size WHERE name = 'recordings'; END;
        CREATE TRIGGER recordings_count_upd AFTER UPDATE OF size ON recordings BEGIN UPDATE totals SET bytes = bytes - old.size + new.size WHERE name = 'recordings'; END;
      `)
    },
  },
]

export interface OpenDbOptions {
  /** the migrations to run (tests give their own); default MIGRATIONS */
  migrations?: readonly Migration[]
  /** ':memory:' for tests */
  file?: string
}

/** Open (creating) the database under dataDir and bring its schema to the newest version. */
export function openDb(dataDir: string, opts: OpenDbOptions = {}): Db {
  const file = opts.file ?? join(dataDir, DB_FILE)
  if (file !== ':memory:') mkdirSync(dataDir, { recursive: true })
  const d = driver()
  if (!d.driver) throw new DbDriverError(d.failures)
  const db = d.driver.open(file)
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.pragma('foreign_keys = ON')
    db.pragma('busy_timeout = 5000')
    migrate(db, file, opts.migrations ?? MIGRATIONS)
  } catch (err) {
    db.close()
    const code = (err as { code?: string }).code
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') throw new DbDamagedError(file, (err as Error).message)
    throw err
  }
  return db
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number
}

function migrate(db: Db, file: string, migrations: readonly Migration[]): void {
  const known = migrations.length ? migrations[migrations.length - 1]!.version : 0
  const found = schemaVersion(db)
  if (found > known) throw new DbVersionError(file, found, known)
  for (const m of migrations) {
    if (m.version <= found) continue
    db.transaction(() => {
      m.up(db)
      db.pragma(`user_version = ${m.version}`)
    })()
  }
}

/** Rows and bytes a table's triggers keep in `totals` (calls, recordings): O(1), unlike count(*). */
export function totals(db: Db, name: 'calls' | 'recordings'): { count: number; bytes: number } {
  const r = db.prepare('SELECT count, bytes FROM totals WHERE name = ?').get(name) as { count: number; bytes: number } | undefined
  return r ?? { count: 0, bytes: 0 }
}

/** Sizes for /v1/health: the database file and its WAL, in bytes. */
export function dbSize(db: Db): { bytes: number; pages: number; freePages: number } {
  const pageSize = db.pragma('page_size', { simple: true }) as number
  const pages = db.pragma('page_count', { simple: true }) as number
  const freePages = db.pragma('freelist_count', { simple: true }) as number
  return { bytes: pageSize * pages, pages, freePages }
}
