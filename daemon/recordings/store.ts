import type { Readable } from 'node:stream'
import type { EventBus } from '../events.js'
import type { RoutePlugin } from '../http.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { RecordingsConfig } from './config.js'

/** STUB (skeleton, owner: recordings helper). The interface the box endpoint uses is fixed below. */

/** An upload streamed to a temp file on the recordings filesystem, hashed, not yet visible. */
export interface TempUpload {
  path: string
  size: number
  md5: string
  sha256: string
}

export interface CommitMeta {
  callid: string
  /** file extension without dot, from a whitelist (wav, mp3, amr…); never a name from the box */
  ext: string
  /** box MAC, 12 lowercase hex digits */
  box: string
  /** every upload field as sent (strings) */
  fields: Record<string, string>
  /** the MD5 the box claims (`fileMd5`), checked before anything becomes visible */
  fileMd5?: string
}

export interface CommitResult {
  /** `stored`: new; `duplicate`: same callid and content, nothing written; `kept-both`: same callid, other content, stored beside */
  outcome: 'stored' | 'duplicate' | 'kept-both'
  record: Record<string, unknown>
}

export class RecordingStore {
  constructor(readonly deps: { dataDir: string; config: RecordingsConfig; log: Logger; bus: EventBus; metrics: Metrics }) {}
  /** Rebuild the index from the sidecars; clean temp files left by a crash. */
  async open(): Promise<void> {}
  /** Stream to a temp file, hashing; rejects (and deletes) on abort, size limit or disk errors. */
  async receive(_stream: Readable, _opts: { maxBytes?: number } = {}): Promise<TempUpload> {
    throw new Error('not implemented')
  }
  /** Verify, fsync, rename into place, write the sidecar, fsync the directory, index, publish. */
  async commit(_tmp: TempUpload, _meta: CommitMeta): Promise<CommitResult> {
    throw new Error('not implemented')
  }
  async discard(_tmp: TempUpload): Promise<void> {}
  /** GET /v1/recordings, /v1/recordings/:callid, /v1/recordings/:callid/audio */
  apiRoutes(): RoutePlugin {
    return () => {}
  }
  async close(): Promise<void> {}
}
