import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The daemon's SQLite database, `<dataDir>/telbridge.db`: the call log, the agent registry and the
 * recording index. WAL mode (readers never wait for the writer), `synchronous=NORMAL` (a commit is in
 * the WAL before `COMMIT` returns, so it survives the process being killed; a power cut may lose the
 * last commits, which the recording index recovers from its sidecars and the call log from the
 * vendors' own records). The schema version is SQLite's `user_version`; migrations only go forward.
 */

export type Db = Database.Database

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
  const db = new Database(file)
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
