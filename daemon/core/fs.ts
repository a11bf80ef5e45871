import { randomBytes } from 'node:crypto'
import { open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/** fsync a file's data and metadata (opened for writing: Windows refuses a flush on a read handle). */
export async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** fsync a directory so a new or removed entry survives a power cut. Windows cannot open a directory for that; NTFS journals the rename itself. */
export async function fsyncDir(path: string): Promise<void> {
  if (process.platform === 'win32') return
  const fh = await open(path, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** what Windows says when something holds the target open (an antivirus scan, the search indexer, a reader) */
const RENAME_BUSY = new Set(['EPERM', 'EACCES', 'EBUSY'])

/**
 * rename(), retried on Windows while the target is held open: Windows refuses to replace an open
 * file, and the holder is usually gone within moments (graceful-fs retries the same way). After
 * `retryMs` the last error is thrown. Elsewhere a plain rename.
 */
export async function renameOver(from: string, to: string, retryMs = 2000): Promise<void> {
  const deadline = Date.now() + retryMs
  for (let wait = 10; ; wait = Math.min(wait * 2, 200)) {
    try {
      return await rename(from, to)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? ''
      if (process.platform !== 'win32' || !RENAME_BUSY.has(code) || Date.now() + wait > deadline) throw err
      await new Promise((r) => setTimeout(r, wait))
    }
  }
}

export interface AtomicWriteOptions {
  /** fsync the directory after the rename (default true); false when the caller syncs it once for several files */
  syncDir?: boolean
  /** file mode of a new file */
  mode?: number
}

/**
 * Write a file so it is either absent (or the old one) or whole: a hidden temp beside it
 * (`.name.<rand>.tmp`, so readers of the directory can tell and remove it after a crash), fsync,
 * rename over (retried for 2 s on Windows while another process holds the file open), then fsync
 * the directory so the new name survives a power cut.
 */
export async function writeAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', opts.mode)
  try {
    try {
      await fh.writeFile(data)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await renameOver(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {})
    throw err
  }
  if (opts.syncDir ?? true) await fsyncDir(dir)
}
