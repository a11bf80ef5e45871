import { mkdir, readdir, readFile, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { fsyncDir, writeAtomic } from '../core/fs.js'
import type { Logger } from '../core/log.js'
import type { Notification } from './notify.js'

/**
 * One webhook's outbox on disk: a directory with one file per notification, named by a sequence
 * number (17 digits, so names sort as numbers). A file is written to a hidden temp name, fsync'd,
 * renamed into place, and the directory fsync'd; only then is the entry queued. Delivery reads the
 * oldest file; it is unlinked after the receiver's 2xx. So a crash at any point leaves either a
 * complete entry (delivered again after the restart: at-least-once) or a temp file (removed at start;
 * it was never queued). Only metadata (sequence, size) is kept in memory, not the entries.
 */

export const ENTRY_FORMAT = 'telbridge.webhook/1'
const NAME = /^(\d{17})\.json$/
/** files written at once by one append (libuv's default thread pool has 4 threads) */
const WRITERS = 4
// writeAtomic's temp (`.<file>.<rand>.tmp`), and the older `.<file>.tmp`
const TEMP = /^\.\d{17}\.json(?:\.[0-9a-f]{8})?\.tmp$/

export interface EntryMeta {
  seq: number
  file: string
  bytes: number
}

export interface StoredEntry {
  format: typeof ENTRY_FORMAT
  seq: number
  /** when it was queued, ISO */
  queuedAt: string
  notification: Notification
}

export class CorruptEntry extends Error {
  override name = 'CorruptEntry'
}

export interface QueueBounds {
  maxEntries: number
  maxBytes: number
}

export type AppendResult = { accepted: number; full: number; failed: number; error?: NodeJS.ErrnoException }

export class DiskQueue {
  private readonly entries: EntryMeta[] = []
  /** index of the head in `entries` (shifted lazily, so removing the head is O(1)) */
  private headIdx = 0
  private totalBytes = 0
  private lastSeq = 0

  constructor(
    readonly dir: string,
    private readonly bounds: QueueBounds,
    private readonly log: Logger,
  ) {}

  get length(): number {
    return this.entries.length - this.headIdx
  }

  get bytes(): number {
    return this.totalBytes
  }

  head(): EntryMeta | undefined {
    return this.entries[this.headIdx]
  }

  /** The queued time of the oldest entry, from its sequence number (µs since the epoch at the latest). */
  oldestSeq(): number | null {
    return this.head()?.seq ?? null
  }

  /**
   * Load what a previous run left: complete entries in sequence order; temp files (a write that
   * never finished, so never queued) removed; files that do not parse as an entry moved to `corrupt/`
   * with a warning. Never throws for a bad file; throws only when the directory itself is unusable.
   */
  async open(): Promise<{ loaded: number; corrupt: number; temp: number }> {
    await mkdir(this.dir, { recursive: true })
    const names = await readdir(this.dir)
    const found: { seq: number; file: string }[] = []
    let temp = 0
    let corrupt = 0
    for (const name of names) {
      if (TEMP.test(name)) {
        temp++
        await unlink(join(this.dir, name)).catch((err) => this.log.warn({ err, file: name }, 'could not remove an unfinished outbox write'))
        continue
      }
      const m = NAME.exec(name)
      if (m) found.push({ seq: Number(m[1]), file: name })
      else if (name !== 'corrupt') this.log.warn({ dir: this.dir, file: name }, 'ignoring a file that is not an outbox entry')
    }
    found.sort((a, b) => a.seq - b.seq)
    for (const f of found) {
      try {
        const text = await readFile(join(this.dir, f.file))
        checkEntry(JSON.parse(text.toString('utf8')), f.seq)
        this.entries.push({ seq: f.seq, file: f.file, bytes: text.length })
        this.totalBytes += text.length
      } catch (err) {
        corrupt++
        await this.quarantine({ seq: f.seq, file: f.file, bytes: 0 }, String((err as Error).message ?? err), false)
      }
      this.lastSeq = Math.max(this.lastSeq, f.seq)
    }
    if (temp) this.log.warn({ dir: this.dir, files: temp }, 'removed unfinished outbox writes from before a crash (they were never queued)')
    return { loaded: this.length, corrupt, temp }
  }

  /**
   * Write entries; each is queued only once it is on disk, all in sequence order. Entries past a
   * bound are not written (`full`); an entry whose write fails is not queued (`failed`, the first
   * error kept). Up to WRITERS files are written at once: one fsync at a time caps a disk at a few
   * hundred notifications a second, several in flight share the journal commits.
   */
  async append(notifications: readonly Notification[]): Promise<AppendResult> {
    const res: AppendResult = { accepted: 0, full: 0, failed: 0 }
    const plan: { meta: EntryMeta; text: Buffer }[] = []
    let planned = 0
    for (const n of notifications) {
      const seq = (this.lastSeq = Math.max(this.lastSeq + 1, Date.now() * 1000))
      const entry: StoredEntry = { format: ENTRY_FORMAT, seq, queuedAt: new Date().toISOString(), notification: n }
      const text = Buffer.from(JSON.stringify(entry) + '\n', 'utf8')
      if (this.length + plan.length >= this.bounds.maxEntries || this.totalBytes + planned + text.length > this.bounds.maxBytes) {
        res.full++
        continue
      }
      plan.push({ meta: { seq, file: `${String(seq).padStart(17, '0')}.json`, bytes: text.length }, text })
      planned += text.length
    }
    const ok = new Array<boolean>(plan.length).fill(false)
    let next = 0
    const writer = async () => {
      while (next < plan.length) {
        const k = next++
        try {
          await writeAtomic(join(this.dir, plan[k]!.meta.file), plan[k]!.text, { syncDir: false })
          ok[k] = true
        } catch (err) {
          res.error ??= err as NodeJS.ErrnoException
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(WRITERS, plan.length) }, writer))
    const written = plan.filter((_, k) => ok[k]).map((p) => p.meta)
    res.failed = plan.length - written.length
    if (written.length) {
      // the renames are durable only once the directory is: one fsync for the whole batch
      try {
        await fsyncDir(this.dir)
      } catch (err) {
        // the files are complete and renamed; a crash before the directory reaches the disk could
        // lose them, which is what a failed fsync means: report, but do not pretend they are not there
        this.log.error({ err, dir: this.dir }, 'outbox directory fsync failed')
      }
      for (const w of written) {
        this.entries.push(w)
        this.totalBytes += w.bytes
      }
      res.accepted = written.length
    }
    return res
  }

  /** The entry behind `meta`; CorruptEntry when the file is gone or does not parse. */
  async read(meta: EntryMeta): Promise<StoredEntry> {
    let text: Buffer
    try {
      text = await readFile(join(this.dir, meta.file))
    } catch (err) {
      throw new CorruptEntry(`cannot read ${meta.file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
    }
    try {
      return checkEntry(JSON.parse(text.toString('utf8')), meta.seq)
    } catch (err) {
      throw new CorruptEntry(`${meta.file}: ${(err as Error).message}`)
    }
  }

  /** Delivered: forget it, and unlink the file (a failed unlink means it is sent again after a restart). */
  async remove(meta: EntryMeta): Promise<void> {
    this.dropHead(meta)
    await unlink(join(this.dir, meta.file)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') this.log.error({ err, file: meta.file }, 'could not remove a delivered outbox entry; it will be sent again after a restart')
    })
  }

  /** A file that is not a valid entry: kept for a person under `corrupt/`, skipped. */
  async quarantine(meta: EntryMeta, reason: string, queued = true): Promise<void> {
    if (queued) this.dropHead(meta)
    const cdir = join(this.dir, 'corrupt')
    try {
      await mkdir(cdir, { recursive: true })
      await rename(join(this.dir, meta.file), join(cdir, meta.file))
      this.log.warn({ dir: this.dir, file: meta.file, reason, movedTo: cdir }, 'skipping a corrupt outbox entry')
    } catch (err) {
      this.log.warn({ dir: this.dir, file: meta.file, reason, err }, 'skipping a corrupt outbox entry (could not move it aside)')
    }
  }

  private dropHead(meta: EntryMeta): void {
    if (this.entries[this.headIdx] !== meta) return
    this.entries[this.headIdx] = undefined as unknown as EntryMeta
    this.headIdx++
    this.totalBytes -= meta.bytes
    // compact now and then so the array does not grow without bound
    if (this.headIdx > 1024 && this.headIdx * 2 > this.entries.length) {
      this.entries.splice(0, this.headIdx)
      this.headIdx = 0
    }
  }
}

function checkEntry(v: unknown, seq: number): StoredEntry {
  const o = v as Partial<StoredEntry> | null
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new Error('not a JSON object')
  if (o.format !== ENTRY_FORMAT) throw new Error(`format is not ${ENTRY_FORMAT}`)
  if (o.seq !== seq) throw new Error(`seq ${String(o.seq)} does not match the file name`)
  const n = o.notification as Partial<Notification> | undefined
  if (!n || typeof n !== 'object' || typeof n.id !== 'string' || typeof n.event !== 'string' || (!n.fields && !('data' in n)) || (n.fields && typeof n.fields !== 'object')) {
    throw new Error('notification missing or incomplete')
  }
  // 800hu format: the wire fields; telbridge format: the event's data, any JSON
  if (n.fields) for (const k of ['type', 'peer', 'phone', 'memo'] as const) if (typeof n.fields[k] !== 'string') throw new Error(`notification.fields.${k} is not a string`)
  return o as StoredEntry
}
