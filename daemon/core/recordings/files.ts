import { randomBytes } from 'node:crypto'
import { link, lstat, mkdir, open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { StorageError } from './errors.js'

/** Run a file operation; a file-system failure becomes a StorageError naming what and where. */
export async function fsOp<T>(operation: string, path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw new StorageError(operation, path, err)
  }
}

/** fsync a file's data and metadata (opened for writing: Windows refuses a flush on a read handle). */
export async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** fsync a directory so a new or removed entry survives a power cut. Windows has no such call. */
export async function fsyncDir(path: string): Promise<void> {
  if (process.platform === 'win32') return
  const fh = await open(path, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

/** Errors that mean "this file system has no hard links" (FAT, some network shares), not "no". */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV'])

/**
 * Give `from` the name `to` unless `to` exists; false when it does. link() fails with EEXIST instead
 * of replacing, so a file we did not index is never overwritten. Without hard links: check, rename.
 */
export async function placeNoClobber(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? ''
    if (code === 'EEXIST') return false
    if (!NO_LINKS.has(code)) throw err
    if (await exists(to)) return false
    await rename(from, to)
    return true
  }
  await rm(from, { force: true })
  return true
}

/**
 * Write a small file so it is either absent or whole: a hidden temp beside it (`.name.<rand>.tmp`,
 * which open() deletes after a crash), fsync, rename over. The caller fsyncs the directory.
 */
export async function writeAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx')
  try {
    try {
      await fh.writeFile(data)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {})
    throw err
  }
}

/** mkdir -p; returns the first directory it had to create (undefined if all existed). */
export async function mkdirp(path: string): Promise<string | undefined> {
  return mkdir(path, { recursive: true })
}
