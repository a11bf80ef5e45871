import { createHash, randomUUID } from 'node:crypto'
import { createWriteStream, existsSync, readFileSync, statSync } from 'node:fs'
import { mkdir, readdir, rm, rmdir, stat } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { EventBus } from '../events.js'
import type { Logger } from '../log.js'
import type { Counter, Metrics } from '../metrics.js'
import { type Entry, type FindResult, type RecordingFilters } from './catalog.js'
import { openDb, type Db } from '../db.js'
import { INDEX_FORMAT, RecordingIndex } from './index.js'
import type { RecordingsConfig } from './config.js'
import { ChecksumMismatch, InvalidRecording, RecordingError, RecordingTooLarge, StorageError, UploadAborted, isFsError } from './errors.js'
import { fsyncDir, fsyncFile, writeAtomic } from '../fs.js'
import { exists, fsOp, mkdirp, placeNoClobber } from './files.js'
import { AUDIO_TYPES, PLAIN_BOX_IDS, SIDECAR_FORMAT, boxId, buildRecord, checkCallid, fileStem, readSidecar, sniffExt, vendorTime, type BoxIds, type RecordingRecord } from './record.js'

export { ChecksumMismatch, InvalidRecording, RecordingError, RecordingTooLarge, StorageError, UploadAborted } from './errors.js'
export { toApiError } from './errors.js'
export { PLAIN_BOX_IDS, audioExt, boxId, checkCallid, parseTime, type BoxIds, type RecordingRecord } from './record.js'
export type { FindResult, RecordingFilters } from './catalog.js'

/** An upload streamed to a temp file on the recordings filesystem, hashed, not yet visible. */
export interface TempUpload {
  path: string
  size: number
  md5: string
  sha256: string
  /** up to the first 16 bytes, for telling the audio type */
  head?: Buffer
  /** the extension the first bytes point to (RIFF/WAVE → wav, #!AMR → amr…), if any */
  sniffedExt?: string
}

export interface CommitMeta {
  callid: string
  /** file extension without dot, from a whitelist (wav, mp3, amr…); never a name from the box */
  ext: string
  /** the box's id, normalised by the device module (deps.boxes checks it) */
  box: string
  /** every upload field as sent (strings) */
  fields: Record<string, string>
  /** the MD5 the box claims (`fileMd5`), checked before anything becomes visible */
  fileMd5?: string
  /**
   * the bus events announcing it, in order: `recording` (default); a device module whose uploads are
   * call records adds `cdr`, and a call record kept without audio (zero bytes, `recorded=0`, no
   * recording to list or play) has `cdr` only
   */
  events?: readonly ('recording' | 'cdr')[]
}

export interface CommitResult {
  /** `stored`: new; `duplicate`: same callid and content, nothing written; `kept-both`: same callid, other content, stored beside */
  outcome: 'stored' | 'duplicate' | 'kept-both'
  record: RecordingRecord
}

export interface SweepResult {
  removed: string[]
  failed: string[]
}

export interface RecordingStoreDeps {
  dataDir: string
  config: RecordingsConfig
  log: Logger
  bus: EventBus
  metrics: Metrics
  /** clock for received times and retention (tests) */
  now?: () => number
  /** how often retention runs; default hourly */
  sweepIntervalMs?: number
  /** how the uploading devices are named (the module whose devices upload gives it); default PLAIN_BOX_IDS */
  boxes?: BoxIds
  /** told of every stored upload once it is durable (the call log links it to its call) */
  onStored?: (record: RecordingRecord) => void
  /** telbridge.db, opened by the daemon (or given to open()); absent: the store opens `<dataDir>/telbridge.db` itself and closes it */
  db?: Db
  /** how far before the index's last commit a day directory's mtime may be and still be rescanned at open; default 1 h */
  reconcileMarginMs?: number
}

export interface ReconcileStats {
  /** `changed`: only day directories changed since the last commit; `full`: every one */
  mode: 'changed' | 'full'
  /** why a full build (a new database, another sidecar format, the clock set back, reindex) */
  reason?: string
  days: number
  daysScanned: number
  indexed: number
  added: number
  removed: number
  skipped: number
  orphans: number
  tempsRemoved: number
  ms: number
}

interface ScanOptions {
  /** only what is older than this (epoch ms) is moved to orphans or removed as a half-written sidecar: a running daemon's commit in progress is left alone */
  olderThanMs?: number
}

const DAY_MS = 86400_000
const PART = /^[0-9a-f-]{36}\.part$/
/** `<callid>.<ext>` or `<callid>~N.<ext>`, the callid as fileStem writes it (`%43ON`, `abc%2E`) */
const OURS = /^(?:[A-Za-z0-9_-]|%[0-9A-F]{2})(?:[A-Za-z0-9._-]|%[0-9A-F]{2}){0,127}(~[1-9]\d{0,5})?\.[a-z0-9]{1,5}$/
/** ids of removed recordings listed in one `recording.expired` event; the count is always whole */
const EXPIRED_IDS_IN_EVENT = 1000

const pad = (n: number) => String(n).padStart(2, '0')

/**
 * Where recordings live: `<dataDir>/recordings/YYYY/MM/DD/<callid>.<ext>` beside a sidecar
 * `<callid>.<ext>.json` that is the only source of the index (a callid Windows reserves, such as
 * `CON`, is written as fileStem names it, `%43ON`; the sidecar keeps the real one). The audio is fsynced and in place before
 * its sidecar is written, and the sidecar is written whole or not at all, so after a crash a sidecar
 * always has its audio and a recording is acknowledged only once both are durable.
 */
export class RecordingStore {
  readonly root: string
  readonly tmpDir: string
  /** audio found without a sidecar at open (a crash before the sidecar): moved here, never deleted */
  readonly orphanDir: string
  private index: RecordingIndex | undefined
  private ownDb: Db | null = null
  /** temp files handed out by receive() and not yet committed or discarded */
  private readonly temps = new Set<string>()
  private readonly locks = new Map<string, Promise<void>>()
  private readonly inflight = new Set<Promise<unknown>>()
  private readonly now: () => number
  private timer: NodeJS.Timeout | null = null
  private sweeping: Promise<SweepResult> | null = null
  private closed = false
  private opened = false
  private readonly log: Logger
  readonly boxes: BoxIds
  private readonly m: { stored: Counter; bytes: Counter; duplicates: Counter; rejected: Counter; expired: Counter; orphans: Counter }

  constructor(readonly deps: RecordingStoreDeps) {
    this.root = join(deps.dataDir, 'recordings')
    this.tmpDir = join(this.root, '.tmp')
    this.orphanDir = join(this.root, 'orphans')
    this.now = deps.now ?? Date.now
    this.log = deps.log
    this.boxes = deps.boxes ?? PLAIN_BOX_IDS
    const mt = deps.metrics
    this.m = {
      stored: mt.counter('telbridge_recordings_stored_total', 'Recordings stored, by outcome (stored, kept-both)', ['outcome']),
      bytes: mt.counter('telbridge_recordings_stored_bytes_total', 'Bytes of recordings stored'),
      duplicates: mt.counter('telbridge_recordings_duplicates_total', 'Uploads acknowledged as duplicates of a stored recording (nothing written)'),
      rejected: mt.counter('telbridge_recordings_rejected_total', 'Uploads not stored, by reason (too-large, aborted, md5-mismatch, invalid, storage)', ['reason']),
      expired: mt.counter('telbridge_recordings_expired_total', 'Recordings deleted by retention (recordings.keepDays)'),
      orphans: mt.counter('telbridge_recordings_orphans_total', 'Audio files without a sidecar moved to recordings/orphans at start'),
    }
    mt.gauge('telbridge_recordings_indexed', 'Recordings in the index', () => [[undefined, this.index ? this.totals().count : 0]])
    mt.gauge('telbridge_recordings_indexed_bytes', 'Bytes of the recordings in the index', () => [[undefined, this.index ? this.totals().bytes : 0]])
  }

  get size(): number {
    return this.index ? this.totals().count : 0
  }

  /** Recordings indexed and their bytes (O(1): kept by triggers). */
  totals(): { count: number; bytes: number } {
    return this.index ? this.index.totals() : { count: 0, bytes: 0 }
  }

  /** The call a recording belongs to, for the call log to set. */
  setCallId(id: string, callId: string | null): boolean {
    return this.index ? this.index.setCallId(id, callId) : false
  }

  /** the index, on paths only reached once it is open */
  private get idx(): RecordingIndex {
    if (!this.index) throw new StorageError('indexing', 'telbridge.db', new Error(this.noIndex ?? 'the recording index is not open'))
    return this.index
  }

  /** Why there is no index (the daemon's database did not open): uploads are refused, nothing is listed. */
  private noIndex: string | null = null

  private attach(given?: Db | null): void {
    if (this.index) return
    if (given === null) {
      this.noIndex = 'the database (telbridge.db) is unavailable'
      return
    }
    let db = given ?? this.deps.db
    if (!db) db = this.ownDb = openDb(this.deps.dataDir)
    this.index = new RecordingIndex(db, this.root)
  }

  /**
   * Bring the SQLite index up to what the sidecars say, looking only at what changed since its last
   * commit (see reconcile); clean temp files left by a crash; start retention.
   */
  async open(db?: Db | null): Promise<void> {
    if (this.opened) return
    this.opened = true
    this.attach(db)
    if (!this.index) {
      this.log.warn({ reason: this.noIndex }, 'no recording index: uploads will be refused and nothing is listed until the database opens (restart after fixing it)')
      return
    }
    try {
      await mkdir(this.tmpDir, { recursive: true })
    } catch (err) {
      // channel status must go on without a disk; every upload will get the storage error instead
      this.log.error({ err: new StorageError('creating', this.tmpDir, err).message }, 'recordings directory unusable; uploads will be refused')
      return
    }
    await this.cleanTemp()
    const stats = await this.reconcile({})
    this.log.info({ ...stats, recordings: this.size, bytes: this.totals().bytes }, stats.mode === 'full' ? 'recording index built from every sidecar' : 'recording index reconciled')
    if (this.deps.config.keepDays !== undefined) {
      await this.sweep()
      this.timer = setInterval(() => void this.sweep(), this.deps.sweepIntervalMs ?? 3600_000)
      this.timer.unref()
    }
  }

  /**
   * Rebuild the index from every sidecar (`telbridge reindex`). Day by day, each in its own short
   * transaction, so a daemon running on the same database only waits milliseconds; files a running
   * daemon may be writing (younger than an hour) are not moved or removed.
   */
  async reindex(db?: Db): Promise<ReconcileStats> {
    this.attach(db)
    const stats = await this.reconcile({ full: 'reindex', olderThanMs: this.now() - 3600_000 })
    this.log.info({ ...stats, recordings: this.size, bytes: this.totals().bytes }, 'recording index rebuilt from every sidecar')
    return stats
  }

  /**
   * The index after a crash or a stop: list the year/month/day directory names (a few thousand at
   * most), and rescan only the days whose mtime is newer than the index's last commit minus a margin
   * (a file placed, renamed or deleted there changes it), plus drop the days gone from disk. A new
   * database, another sidecar format, or a clock now behind the last commit means every day.
   */
  private async reconcile(o: { full?: string } & ScanOptions): Promise<ReconcileStats> {
    const t0 = performance.now()
    const nowMs = this.now()
    const st = this.idx.state()
    const margin = this.deps.reconcileMarginMs ?? 3600_000
    let reason = o.full
    if (!reason && st.format !== INDEX_FORMAT) reason = st.format === undefined ? 'a new database' : `built for ${st.format}, sidecars are ${INDEX_FORMAT}`
    if (!reason && st.syncedAt === undefined) reason = 'never committed'
    if (!reason && st.syncedAt! > Date.now() + margin) reason = `the clock is behind the last commit (${new Date(st.syncedAt!).toISOString()})`
    const since = reason ? -Infinity : st.syncedAt! - margin
    const stats: ReconcileStats = {
      mode: reason ? 'full' : 'changed',
      ...(reason ? { reason } : {}),
      days: 0,
      daysScanned: 0,
      indexed: 0,
      added: 0,
      removed: 0,
      skipped: 0,
      orphans: 0,
      tempsRemoved: 0,
      ms: 0,
    }
    if (reason) this.log.info({ reason }, 'recording index: scanning every sidecar once')
    const onDisk = new Set<string>()
    for (const y of await this.subdirs(this.root, /^\d{4}$/)) {
      for (const mo of await this.subdirs(join(this.root, y), /^\d{2}$/)) {
        for (const d of await this.subdirs(join(this.root, y, mo), /^\d{2}$/)) {
          const rel = `${y}/${mo}/${d}`
          onDisk.add(rel)
          stats.days++
          if (since !== -Infinity) {
            const m = await stat(join(this.root, y, mo, d)).then(
              (x) => x.mtimeMs,
              () => Infinity,
            )
            if (m < since) continue
          }
          stats.daysScanned++
          await this.scanDay(join(this.root, y, mo, d), rel, stats, o)
        }
      }
    }
    for (const dir of this.idx.dirs()) {
      if (onDisk.has(dir)) continue
      const n = this.idx.removeDir(dir, nowMs)
      stats.removed += n
      this.log.warn({ dir, removed: n }, 'a day directory of indexed recordings is gone from disk; its rows are removed from the index')
    }
    // the format is written last: a crash during a full build makes the next start build again
    if (stats.mode === 'full') this.idx.setFormat(INDEX_FORMAT)
    stats.ms = Math.round(performance.now() - t0)
    return stats
  }

  private async cleanTemp(): Promise<void> {
    let names: string[]
    try {
      names = await readdir(this.tmpDir)
    } catch (err) {
      this.log.error({ err, dir: this.tmpDir }, 'cannot read the recordings temp directory')
      return
    }
    for (const n of names) {
      // only what receive() writes there: never acknowledged, so nothing to keep
      if (!PART.test(n) || this.temps.has(join(this.tmpDir, n))) continue
      await rm(join(this.tmpDir, n), { force: true }).then(
        () => this.log.info({ file: n }, 'removed an unfinished upload left by a crash'),
        (err) => this.log.warn({ err, file: n }, 'cannot remove an unfinished upload'),
      )
    }
  }

  private async subdirs(dir: string, pattern: RegExp): Promise<string[]> {
    try {
      const ents = await readdir(dir, { withFileTypes: true })
      return ents
        .filter((e) => e.isDirectory() && pattern.test(e.name))
        .map((e) => e.name)
        .sort()
    } catch (err) {
      this.log.error({ err, dir }, 'cannot read a recordings directory; its recordings are not indexed')
      return []
    }
  }

  private async scanDay(dir: string, rel: string, stats: ReconcileStats, o: ScanOptions): Promise<void> {
    let ents
    try {
      ents = await readdir(dir, { withFileTypes: true })
    } catch (err) {
      this.log.error({ err, dir }, 'cannot read a recordings directory; its recordings are not indexed')
      return
    }
    const young = async (n: string) =>
      o.olderThanMs !== undefined &&
      (await stat(join(dir, n)).then(
        (x) => x.mtimeMs >= o.olderThanMs!,
        () => true,
      ))
    const files = new Set(ents.filter((e) => e.isFile()).map((e) => e.name))
    const sidecars: string[] = []
    const audio: string[] = []
    for (const n of files) {
      if (n.startsWith('.') && n.endsWith('.tmp')) {
        if (await young(n)) continue
        // a sidecar cut off by a crash: its recording was never acknowledged
        await rm(join(dir, n), { force: true }).catch((err) => this.log.warn({ err, file: `${rel}/${n}` }, 'cannot remove a half-written sidecar'))
        stats.tempsRemoved++
      } else if (n.endsWith('.json')) sidecars.push(n)
      else if (!n.startsWith('.')) audio.push(n)
    }
    const found: Entry[] = []
    const ids = new Set<string>()
    // synchronous reads: this runs before the listeners open (or in the reindex command), and fs/promises
    // costs several times the CPU per small file; a turn of the event loop every 256 files
    for (let i = 0; i < sidecars.length; i += 256) {
      if (i) await new Promise((r) => setImmediate(r))
      const got = sidecars.slice(i, i + 256).map((n) => this.loadSidecar(dir, rel, n, files))
      for (const e of got) {
        if (!e) {
          stats.skipped++
          continue
        }
        const other = this.idx.fileOf(e.record.id)
        // the same id from another day's sidecar that is still there: the first indexed wins
        if (ids.has(e.record.id) || (other !== undefined && other !== e.record.file && existsSync(join(this.root, ...other.split('/')) + '.json'))) {
          this.log.warn({ file: `${e.record.file}.json`, reason: `recording ${e.record.id} is already indexed from ${other ?? e.record.file}` }, 'sidecar not indexed')
          stats.skipped++
          continue
        }
        ids.add(e.record.id)
        found.push(e)
      }
    }
    // a row whose sidecar appeared after the readdir (a daemon committing during reindex) stays
    const r = this.idx.replaceDir(rel, found, (_id, file) => existsSync(join(this.root, ...file.split('/')) + '.json') && !files.has(`${file.slice(file.lastIndexOf('/') + 1)}.json`), this.now())
    stats.indexed += found.length
    stats.added += r.added
    stats.removed += r.removed
    for (const n of audio) {
      if (files.has(`${n}.json`)) continue
      // only names the store writes; anything else an operator put here stays where it is
      if (!OURS.test(n) || !AUDIO_TYPES[n.slice(n.lastIndexOf('.') + 1)]) {
        this.log.debug({ file: `${rel}/${n}` }, 'file not written by the store left alone')
        continue
      }
      if (await young(n)) continue
      await this.moveOrphan(dir, rel, n)
      stats.orphans++
    }
  }

  /** The entry for one sidecar if it is whole and its audio is there with the recorded size. */
  private loadSidecar(dir: string, rel: string, name: string, files: Set<string>): Entry | null {
    const audioName = name.slice(0, -'.json'.length)
    const where = `${rel}/${name}`
    try {
      const core = readSidecar(JSON.parse(readFileSync(join(dir, name), 'utf8')), `${rel}/${audioName}`, this.boxes)
      // a store written before fileStem existed named every file after its id: still indexed
      const named = `${fileStem(core.id)}.${core.ext}`
      if (audioName !== named && audioName !== `${core.id}.${core.ext}`) throw new Error(`sidecar names ${named}, not ${audioName}`)
      if (!files.has(audioName)) throw new Error('its audio file is missing')
      const st = statSync(join(dir, audioName))
      if (st.size !== core.size) throw new Error(`its audio file has ${st.size} bytes, the sidecar says ${core.size}`)
      const { record, timeMs } = buildRecord(core)
      return { record, timeMs, receivedMs: core.receivedMs, audioPath: join(dir, audioName), sidecarPath: join(dir, name) }
    } catch (err) {
      // left as it is: an operator can repair it, and retention never touches what is not indexed
      this.log.warn({ file: where, reason: (err as Error).message }, 'sidecar not indexed')
      return null
    }
  }

  private async moveOrphan(dir: string, rel: string, name: string): Promise<void> {
    const toDir = join(this.orphanDir, ...rel.split('/'))
    try {
      await mkdir(toDir, { recursive: true })
      let target = name
      for (let n = 1; !(await placeNoClobber(join(dir, name), join(toDir, target))); n++) target = `${name}.${n}`
      await fsyncDir(toDir)
      await fsyncDir(dir)
      this.m.orphans.inc()
      this.log.warn(
        { file: `${rel}/${name}`, movedTo: relative(this.root, join(toDir, target)).split(sep).join('/') },
        'audio without a sidecar (upload interrupted before it was acknowledged) moved to orphans',
      )
    } catch (err) {
      this.log.error({ err, file: `${rel}/${name}` }, 'audio without a sidecar could not be moved to orphans; left in place')
    }
  }

  /** Stream to a temp file, hashing; rejects (and deletes) on abort, size limit or disk errors. */
  async receive(stream: Readable, opts: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<TempUpload> {
    const limit = opts.maxBytes ?? this.deps.config.maxBytes
    const path = join(this.tmpDir, `${randomUUID()}.part`)
    try {
      await fsOp('creating', this.tmpDir, () => mkdir(this.tmpDir, { recursive: true }))
    } catch (err) {
      stream.destroy()
      throw this.rejected(err as StorageError)
    }
    const md5 = createHash('md5')
    const sha = createHash('sha256')
    let size = 0
    let head = Buffer.alloc(0)
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length
        if (size > limit) return cb(new RecordingTooLarge(limit, size))
        if (head.length < 16) head = Buffer.concat([head, chunk.subarray(0, 16 - head.length)])
        md5.update(chunk)
        sha.update(chunk)
        cb(null, chunk)
      },
    })
    const out = createWriteStream(path, { flags: 'wx' })
    // pipeline destroys every stream with the first error, so the file stream also reports a client's
    // reset: only an error the file stream raised first is the disk's
    let first: 'source' | 'disk' | undefined
    let diskErr: Error | undefined
    const onSource = () => (first ??= 'source')
    stream.on('error', onSource)
    out.once('error', (e) => {
      first ??= 'disk'
      diskErr = e
    })
    this.temps.add(path)
    try {
      await pipeline(stream, meter, out, opts.signal ? { signal: opts.signal } : {})
    } catch (err) {
      if (!out.closed) await new Promise<void>((r) => out.once('close', () => r()))
      this.temps.delete(path)
      await rm(path, { force: true }).catch((e) => this.log.error({ err: e, path }, 'cannot delete a failed upload'))
      let e: RecordingError
      if (err instanceof RecordingTooLarge) e = err
      else if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') e = new RecordingTooLarge(limit, size)
      else if (first === 'disk' && isFsError(diskErr)) e = new StorageError('writing', path, diskErr)
      else e = new UploadAborted(size, err)
      throw this.rejected(e)
    } finally {
      stream.off('error', onSource)
    }
    return { path, size, md5: md5.digest('hex'), sha256: sha.digest('hex'), head, sniffedExt: sniffExt(head) }
  }

  private rejected<E extends RecordingError>(e: E, extra: Record<string, unknown> = {}): E {
    this.m.rejected.inc({ reason: e.reason })
    const level = e instanceof StorageError ? 'error' : 'warn'
    this.log[level]({ reason: e.reason, ...extra, err: e.message }, 'recording not stored')
    return e
  }

  /** Verify, fsync, rename into place, write the sidecar, fsync the directory, index, publish. */
  async commit(tmp: TempUpload, meta: CommitMeta): Promise<CommitResult> {
    if (!this.temps.has(tmp.path)) throw new InvalidRecording('upload', 'not a pending upload of this store (already committed or discarded)')
    if (!this.index) {
      // not acknowledged: the box keeps it and sends it again once the daemon has its database back
      await this.discard(tmp)
      throw this.rejected(new StorageError('indexing', 'telbridge.db', new Error(this.noIndex ?? 'the recording index is not open')))
    }
    let callid: string
    let box: string
    try {
      callid = checkCallid(meta.callid)
      const b = boxId(this.boxes, meta.box)
      if (!b) throw new InvalidRecording('box', `${JSON.stringify(String(meta.box).slice(0, 40))} is not ${this.boxes.describe}`)
      box = b
      if (meta.fileMd5 !== undefined && meta.fileMd5.trim().toLowerCase() !== tmp.md5) throw new ChecksumMismatch(meta.fileMd5, tmp.md5)
    } catch (err) {
      await this.discard(tmp)
      throw this.rejected(err as RecordingError, { callid: String(meta.callid).slice(0, 140), box: meta.box })
    }
    let ext = String(meta.ext ?? '').toLowerCase()
    if (!AUDIO_TYPES[ext]) {
      const chosen = tmp.sniffedExt ?? 'bin'
      this.log.warn({ callid, ext: ext.slice(0, 20), stored: chosen }, 'unknown audio extension; stored under the type its bytes show')
      ext = chosen
    }
    // no prototype: a field named __proto__ is kept as data like any other
    const fields = Object.create(null) as Record<string, string>
    for (const [k, v] of Object.entries(meta.fields ?? {})) fields[k] = typeof v === 'string' ? v : String(v)
    const p = this.withLock(callid, () => this.place(tmp, callid, box, ext, fields, meta.events ?? ['recording']))
    this.inflight.add(p)
    try {
      return await p
    } finally {
      this.inflight.delete(p)
    }
  }

  private async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve()
    const run = prev.then(fn)
    const settled = run.then(
      () => {},
      () => {},
    )
    this.locks.set(key, settled)
    try {
      return await run
    } finally {
      if (this.locks.get(key) === settled) this.locks.delete(key)
    }
  }

  private async place(tmp: TempUpload, callid: string, box: string, ext: string, fields: Record<string, string>, events: readonly ('recording' | 'cdr')[]): Promise<CommitResult> {
    const versions = this.idx.versions(callid)
    const same = versions.find((e) => e.record.sha256 === tmp.sha256)
    if (same) {
      await this.discard(tmp)
      this.m.duplicates.inc()
      this.log.info({ callid, id: same.record.id, box }, 'duplicate upload acknowledged; nothing written')
      return { outcome: 'duplicate', record: same.record }
    }
    const receivedMs = this.now()
    const d = new Date(vendorTime(fields.start_time_secs, receivedMs) ?? receivedMs)
    const relDir = `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())}`
    const dir = join(this.root, ...relDir.split('/'))
    let audioPath: string | undefined
    let sidecarPath: string | undefined
    try {
      await fsOp('syncing', tmp.path, () => fsyncFile(tmp.path))
      const created = await fsOp('creating', dir, () => mkdirp(dir))
      let id = ''
      for (let n = versions.length ? 2 : 1; ; n++) {
        if (n > 10_000) throw new StorageError('naming', `${dir}/${fileStem(callid)}~N.${ext}`, new Error('no free name'))
        id = n === 1 ? callid : `${callid}~${n}`
        if (this.idx.has(id)) continue
        const candidate = join(dir, `${fileStem(id)}.${ext}`)
        // a sidecar we could not index (damaged by hand?) keeps its name too
        if (await fsOp('checking', candidate, () => exists(`${candidate}.json`))) continue
        if (await fsOp('moving into place', candidate, () => placeNoClobber(tmp.path, candidate))) {
          audioPath = candidate
          break
        }
      }
      this.temps.delete(tmp.path)
      const { record, timeMs } = buildRecord({
        id,
        callid,
        box,
        source: this.boxes.source(box),
        ext,
        size: tmp.size,
        md5: tmp.md5,
        sha256: tmp.sha256,
        receivedMs,
        file: `${relDir}/${fileStem(id)}.${ext}`,
        fields,
      })
      const sc = `${audioPath}.json`
      await fsOp('writing', sc, () => writeAtomic(sc, JSON.stringify({ format: SIDECAR_FORMAT, ...record }, null, 2) + '\n', { syncDir: false }))
      sidecarPath = sc
      // the new entries must survive a power cut: the day directory, and each parent that got a new child
      const dirs = [dir]
      if (created !== undefined) {
        for (let p = join(dir, '..'); p.length >= this.root.length; p = join(p, '..')) dirs.push(p)
      }
      for (const x of dirs) await fsOp('syncing', x, () => fsyncDir(x))
      // the row last: after a crash before it, the day directory's new mtime gets it rescanned
      this.idx.add({ record, timeMs, receivedMs }, this.now())
      const outcome = versions.length ? 'kept-both' : 'stored'
      this.m.stored.inc({ outcome })
      this.m.bytes.inc(undefined, tmp.size)
      if (outcome === 'kept-both') {
        this.log.warn({ callid, id, box, sha256: tmp.sha256, others: versions.map((e) => e.record.id) }, 'same callid with different content: both recordings kept')
      } else this.log.info({ callid, box, size: tmp.size, file: record.file }, 'recording stored')
      for (const ev of events) this.deps.bus.publish(ev, { outcome, ...record })
      try {
        this.deps.onStored?.(record)
      } catch (err) {
        this.log.error({ err, callid }, 'linking a stored recording to its call failed')
      }
      return { outcome, record }
    } catch (err) {
      // not acknowledged: take back what this commit put down (sidecar first), the box will send it again
      if (sidecarPath) await rm(sidecarPath, { force: true }).catch((e) => this.log.error({ err: e, path: sidecarPath }, 'cannot remove the sidecar of a failed commit'))
      if (audioPath) await rm(audioPath, { force: true }).catch((e) => this.log.error({ err: e, path: audioPath }, 'cannot remove a recording whose commit failed'))
      await this.discard(tmp)
      const e = err instanceof RecordingError ? err : new StorageError('storing', audioPath ?? tmp.path, err)
      throw this.rejected(e, { callid })
    }
  }

  async discard(tmp: TempUpload): Promise<void> {
    this.temps.delete(tmp.path)
    await rm(tmp.path, { force: true }).catch((err) => this.log.warn({ err, path: tmp.path }, 'cannot delete a temp upload'))
  }

  get(callidOrId: string): RecordingRecord | undefined {
    return this.entry(callidOrId)?.record
  }

  /** By id (`callid` or `callid~2`); a bare callid whose first copy is gone finds the next one. */
  entry(callidOrId: string): Entry | undefined {
    if (!this.index) return undefined
    return this.index.entry(callidOrId) ?? this.index.firstVersion(callidOrId)
  }

  /** By the stored file's path relative to the store (`record.file`, as `/voip/record/{file}` names it). */
  entryByFile(file: string): Entry | undefined {
    const m = /^\d{4}\/\d{2}\/\d{2}\/([^/]{1,200})\.[a-z0-9]{1,8}$/.exec(file)
    if (!m || !this.index) return undefined
    for (const id of new Set([m[1]!, safeDecode(m[1]!)])) {
      const e = id === null ? undefined : this.index.entry(id)
      if (e && e.record.file === file) return e
    }
    return undefined
  }

  find(filters: RecordingFilters = {}): FindResult {
    if (!this.index) return { total: 0, offset: filters.offset ?? 0, limit: filters.limit ?? 0, recordings: [] }
    return this.index.find(filters)
  }

  /**
   * Delete indexed recordings older than `keepDays` (by the later of call time and received time, so
   * a backlog a box uploads late is kept its full term). Nothing unindexed is touched.
   */
  sweep(): Promise<SweepResult> {
    this.sweeping ??= this.runSweep().finally(() => (this.sweeping = null))
    return this.sweeping
  }

  private async runSweep(): Promise<SweepResult> {
    const keepDays = this.deps.config.keepDays
    const result: SweepResult = { removed: [], failed: [] }
    if (keepDays === undefined || !this.index) return result
    const cutoff = this.now() - keepDays * DAY_MS
    const dirs = new Set<string>()
    // in batches from the index, oldest first; what failed is skipped by id so a batch always moves on
    const failed = new Set<string>()
    for (let due = this.index.due(cutoff, 500); due.length && !this.closed; due = this.index.due(cutoff, 500 + failed.size)) {
      const todo = due.filter((e) => !failed.has(e.record.id))
      if (!todo.length) break
      for (const e of todo) {
        if (this.closed) break
        await this.withLock(e.record.callid, async () => {
          if (this.idx.fileOf(e.record.id) !== e.record.file) return
          try {
            // sidecar first: a crash between the two leaves audio that open() moves to orphans, not a loss
            await rm(e.sidecarPath, { force: true })
          } catch (err) {
            this.log.error({ err, file: e.record.file }, 'retention could not delete a sidecar; recording kept')
            result.failed.push(e.record.id)
            failed.add(e.record.id)
            return
          }
          this.idx.remove(e.record.id, this.now())
          result.removed.push(e.record.id)
          this.m.expired.inc()
          dirs.add(join(e.audioPath, '..'))
          await rm(e.audioPath, { force: true }).catch((err) => this.log.error({ err, file: e.record.file }, 'retention deleted a sidecar but not its audio; open() will move it to orphans'))
        })
      }
    }
    for (const d of dirs) {
      await fsyncDir(d).catch(() => {})
      // empty day, month, year directories go too; rmdir refuses anything not empty
      for (let p = d; p.length > this.root.length; p = join(p, '..')) {
        try {
          await rmdir(p)
          await fsyncDir(join(p, '..')).catch(() => {})
        } catch {
          break
        }
      }
    }
    if (result.removed.length || result.failed.length) {
      this.log.info(
        { removed: result.removed.length, failed: result.failed.length, keepDays, before: new Date(cutoff).toISOString(), ids: result.removed.slice(0, 20) },
        'retention removed old recordings',
      )
      this.deps.bus.publish('recording.expired', {
        count: result.removed.length,
        ids: result.removed.slice(0, EXPIRED_IDS_IN_EVENT),
        truncated: result.removed.length > EXPIRED_IDS_IN_EVENT,
        failed: result.failed,
        keepDays,
        before: new Date(cutoff).toISOString(),
      })
    }
    return result
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await this.sweeping
    await Promise.allSettled([...this.inflight])
    this.ownDb?.close()
    this.ownDb = null
  }
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s)
  } catch {
    return null
  }
}
