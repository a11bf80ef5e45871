import { ApiError } from '../errors.js'

/**
 * Why an upload was not stored. Each class has a stable `reason` (the metrics label and the word the
 * box endpoint logs); `toApiError` gives the HTTP answer for callers that speak the local API's errors.
 */
export abstract class RecordingError extends Error {
  abstract readonly reason: 'too-large' | 'aborted' | 'md5-mismatch' | 'invalid' | 'storage'
}

/** The upload went past `recordings.maxBytes`; nothing was kept. */
export class RecordingTooLarge extends RecordingError {
  readonly reason = 'too-large'
  constructor(
    readonly limit: number,
    /** bytes seen when the upload was cut off (at least limit + 1) */
    readonly received: number,
  ) {
    super(`recording larger than the limit of ${limit} bytes (recordings.maxBytes)`)
  }
}

/** The upload stream ended early or failed (client gone, connection reset); nothing was kept. */
export class UploadAborted extends RecordingError {
  readonly reason = 'aborted'
  constructor(
    readonly received: number,
    cause?: unknown,
  ) {
    super(`upload aborted after ${received} bytes${cause instanceof Error ? ` (${cause.message})` : ''}`, { cause })
  }
}

/** The box's `fileMd5` does not match the bytes received; nothing was kept. */
export class ChecksumMismatch extends RecordingError {
  readonly reason = 'md5-mismatch'
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`fileMd5 ${JSON.stringify(expected.slice(0, 64))} does not match the received file (md5 ${actual})`)
  }
}

/** callid, box or another field the store must never trust is unusable (e.g. a callid with `../`). */
export class InvalidRecording extends RecordingError {
  readonly reason = 'invalid'
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`)
  }
}

const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'disk full',
  SQLITE_FULL: 'disk full (the recording index in telbridge.db could not grow)',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large for the filesystem',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only filesystem',
  EIO: 'I/O error',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENOTDIR: 'a path component is not a directory',
  EEXIST: 'a file is in the way of a directory',
  ENOENT: 'directory missing',
  ENAMETOOLONG: 'path too long',
}

/** The disk said no (full, read-only, permissions, I/O). The message names the errno and the path. */
export class StorageError extends RecordingError {
  readonly reason = 'storage'
  readonly errno: string
  constructor(
    readonly operation: string,
    readonly path: string,
    cause: unknown,
  ) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? 'UNKNOWN'
    const what = ERRNO_TEXT[code] ?? (cause instanceof Error ? cause.message : String(cause))
    super(`${what} (${code}) while ${operation} ${path}`, { cause })
    this.errno = code
  }
}

/** True for errors of the file system (an errno code), as opposed to our own errors or a stream's. */
export function isFsError(err: unknown): err is NodeJS.ErrnoException {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) && typeof (err as NodeJS.ErrnoException).syscall === 'string'
}

/** A RecordingError as the local API's error: 413, 507, 400. */
export function toApiError(err: RecordingError): ApiError {
  if (err instanceof RecordingTooLarge) return new ApiError('PAYLOAD_TOO_LARGE').with({ limit: err.limit })
  if (err instanceof StorageError) return new ApiError('INSUFFICIENT_STORAGE', err.message).with({ errno: err.errno })
  return new ApiError('BAD_REQUEST', err.message).with({ reason: err.reason })
}
