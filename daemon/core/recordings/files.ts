import { link, lstat, mkdir, rename, rm } from 'node:fs/promises'
import { StorageError } from './errors.js'

/** Run a file operation; a file-system failure becomes a StorageError naming what and where. */
export async function fsOp<T>(operation: string, path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw new StorageError(operation, path, err)
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

/** mkdir -p; returns the first directory it had to create (undefined if all existed). */
export async function mkdirp(path: string): Promise<string | undefined> {
  return mkdir(path, { recursive: true })
}
