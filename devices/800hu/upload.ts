import type { FastifyRequest } from 'fastify'
import { Readable } from 'node:stream'
import { audioExt, checkCallid, ChecksumMismatch, InvalidRecording, RecordingTooLarge, StorageError, UploadAborted, type TempUpload } from '../../daemon/core/recordings/store.js'
import { timedOut } from '../../daemon/core/http-limits.js'
import type { BoxSource } from './box.js'
import { addFields, MAX_FIELDS, newFields, type Fields } from './fields.js'
import type { BoxHub } from './hub.js'
import { formatMac } from '../../protocols/800hu/mac.js'
import { BOX_STATUS, fail, ok, type BoxAnswer } from '../../protocols/800hu/answers.js'

const FIELD_MAX = 256 * 1024
/** After refusing an upload, the rest of the body is read (and dropped) for at most this long, so the box can read the answer. */
const DRAIN_MS = 5000

export interface UploadOutcome {
  cmd: string
  fields: Fields
  /** set when the request is finished (cmd=upload, or refused while streaming); else dispatch the fields */
  answer?: BoxAnswer
}

/** The multipart parser (busboy) refused the body: no or an empty boundary, the boundary never seen, a broken part header. */
class MalformedMultipart extends Error {
  constructor(override readonly cause: unknown) {
    super((cause as Error)?.message ?? String(cause))
  }
}

/**
 * The next part, or null at the end. What the parser throws is the client's malformed body (a 400),
 * except the plugin's own limit errors (FST_…), which uploadError maps one by one.
 */
async function nextPart<T>(it: AsyncIterator<T>): Promise<T | null> {
  try {
    const r = await it.next()
    return r.done ? null : r.value
  } catch (err) {
    const code = (err as { code?: unknown })?.code
    if (typeof code === 'string' && code.startsWith('FST_')) throw err
    throw new MalformedMultipart(err)
  }
}

class UploadRefused extends Error {
  constructor(readonly answer: BoxAnswer) {
    super(String(answer.body.message))
  }
}

/**
 * A multipart box request. The file part is streamed into the recording store's temp file as it
 * arrives (fields may come before or after it); only when the whole body is in and every field
 * checks out is it committed, and only when the commit is durable is the box told `status: 0`.
 * Every other way out discards the temp file.
 */
export async function receiveUpload(hub: BoxHub, req: FastifyRequest, query: Record<string, unknown>): Promise<UploadOutcome> {
  const store = hub.deps.recordings
  const maxBytes = hub.maxUploadBytes
  const fields = newFields()
  addFields(fields, query)
  let tmp: TempUpload | null = null
  let file: { filename: string; mimetype: string } | null = null
  let current: Readable | null = null
  let committed = false
  const t0 = performance.now()
  try {
    try {
      const parts = req.parts({
        // one more byte than allowed, so an oversized file is seen as such and not cut to size
        limits: { fileSize: maxBytes + 1, files: 1, fields: MAX_FIELDS, fieldSize: FIELD_MAX, parts: MAX_FIELDS + 1, headerPairs: 100, fieldNameSize: 200 },
      })
      const it = parts[Symbol.asyncIterator]()
      for (;;) {
        const part = await nextPart(it)
        if (!part) break
        if (part.type === 'field') {
          if (part.valueTruncated || part.fieldnameTruncated) throw refuse(BOX_STATUS.BAD_FIELD, `field ${part.fieldname.slice(0, 40)} is longer than ${FIELD_MAX} bytes`, 400, 'BAD_REQUEST')
          addFields(fields, { [part.fieldname]: part.value })
          continue
        }
        file = { filename: part.filename, mimetype: part.mimetype }
        current = part.file
        // refused whatever follows: read the file to nowhere rather than to disk
        if ((fields.cmd !== undefined && fields.cmd !== 'upload') || hub.knownRefused(fields)) {
          await drain(part.file)
          continue
        }
        tmp = await store.receive(part.file, { maxBytes })
        if (part.file.truncated || tmp.size > maxBytes) throw tooLarge(maxBytes)
      }
    } catch (err) {
      const answer = err instanceof UploadRefused ? err.answer : uploadError(hub, err, maxBytes, fields, req)
      // let the parser drop the rest of the file instead of buffering it for a reader that is gone
      if (current && !current.destroyed) current.resume()
      await drainRequest(req)
      return { cmd: fields.cmd ?? '', fields, answer }
    }
    const cmd = fields.cmd ?? ''
    if (cmd !== 'upload') return { cmd, fields }
    const box = hub.identify(fields, req.socket.remoteAddress)
    if (!('mac' in box)) return { cmd, fields, answer: box }
    if (!tmp) return { cmd, fields, answer: await uploadWithoutFile(hub, box, fields) }
    const callid = fields.callid
    if (!callid) return { cmd, fields, answer: fail(BOX_STATUS.MISSING, 'cmd=upload needs callid', { http: 400, error: 'BAD_REQUEST' }) }
    const callidProblem = badCallid(callid)
    if (callidProblem) {
      hub.log.warn({ box: box.id, callid: callid.slice(0, 80) }, `upload refused: ${callidProblem}`)
      return { cmd, fields, answer: fail(BOX_STATUS.BAD_FIELD, callidProblem, { http: 400, error: 'BAD_REQUEST' }) }
    }
    // the store checks fileMd5 against the bytes before anything becomes visible
    const claimed = fields.fileMd5?.trim() || undefined
    const ext = audioExt(file?.filename, file?.mimetype, tmp.head)
    let result
    try {
      result = await store.commit(tmp, { callid, ext, box: box.mac, fields: withParamvalue(hub, box, fields), events: ['cdr', 'recording'], ...(claimed ? { fileMd5: claimed } : {}) })
    } catch (err) {
      return { cmd, fields, answer: uploadError(hub, err, maxBytes, fields, req) }
    }
    committed = true
    box.uploads++
    if (result.outcome !== 'duplicate') hub.uploadBytes.inc(undefined, tmp.size)
    hub.log.info(
      { box: box.id, mac: formatMac(box.mac), callid, channel: fields.channel, size: tmp.size, outcome: result.outcome, ms: Math.round(performance.now() - t0) },
      result.outcome === 'duplicate' ? 'recording already stored (same content); acknowledged again' : 'recording stored',
    )
    return { cmd, fields, answer: ok({ callid }) }
  } finally {
    if (tmp && !committed) {
      await store.discard(tmp).catch((err) => hub.log.error({ err, path: tmp?.path }, 'could not delete an upload temp file'))
    }
  }
}

/** The key under which the upload's stored fields keep the paramvalue of the command that started the call. */
export const PARAMVALUE_FIELD = 'telbridge.paramvalue'

/** The fields to store: as the box sent them, plus the paramvalue of the dial or web command that started this call. */
function withParamvalue(hub: BoxHub, box: BoxSource, fields: Fields): Record<string, string> {
  const out: Record<string, string> = { ...fields }
  delete out[PARAMVALUE_FIELD]
  const start = Number(fields.start_time_secs)
  const startMs = Number.isFinite(start) && start > 0 ? start * 1000 : null
  const pv = hub.memoFor(box.mac, String(Number(fields.channel ?? '')), fields.callid_dialed ?? '', startMs, true)
  if (pv !== null) out[PARAMVALUE_FIELD] = pv
  return out
}

/**
 * cmd=upload without a file: a call record with `recorded=0` (no recording, the usual missed call) is
 * kept as a call record without audio (zero bytes in the recording store, durable and swept like the
 * recordings), announced as a `cdr` event, and acknowledged once stored; anything else lacks its file.
 */
export async function uploadWithoutFile(hub: BoxHub, box: BoxSource, fields: Fields): Promise<BoxAnswer> {
  const callid = fields.callid
  if (fields.recorded === '0') {
    if (!callid) return fail(BOX_STATUS.MISSING, 'cmd=upload needs callid', { http: 400, error: 'BAD_REQUEST' })
    const problem = badCallid(callid)
    if (problem) return fail(BOX_STATUS.BAD_FIELD, problem, { http: 400, error: 'BAD_REQUEST' })
    const store = hub.deps.recordings
    let result
    try {
      const tmp = await store.receive(Readable.from([]), { maxBytes: 0 })
      result = await store.commit(tmp, { callid, ext: 'bin', box: box.mac, fields: withParamvalue(hub, box, fields), events: ['cdr'] })
    } catch (err) {
      if (err instanceof StorageError) {
        hub.log.error({ box: box.id, callid, err: err.message }, 'call record NOT stored: the recordings directory cannot be written; the box will retry')
        return fail(BOX_STATUS.SAVE_FAILED, `cannot store the call record: ${err.message}`, { http: 507, error: 'INSUFFICIENT_STORAGE', callid })
      }
      if (err instanceof InvalidRecording) return fail(BOX_STATUS.BAD_FIELD, err.message, { http: 400, error: 'BAD_REQUEST', callid })
      throw err
    }
    box.uploads++
    hub.log.info(
      { box: box.id, callid, channel: fields.channel, outcome: result.outcome },
      result.outcome === 'duplicate' ? 'call record already stored; acknowledged again' : 'call record without a recording (recorded=0) stored',
    )
    return ok({ callid })
  }
  return fail(BOX_STATUS.MISSING, 'cmd=upload needs a multipart/form-data body with the recording in a file part (or recorded=0)', {
    http: 400,
    error: 'BAD_REQUEST',
    ...(callid && !badCallid(callid) ? { callid } : {}),
  })
}

function refuse(status: number, message: string, http: number, error: string): UploadRefused {
  return new UploadRefused(fail(status, message, { http, error }))
}

function tooLarge(maxBytes: number): UploadRefused {
  return refuse(BOX_STATUS.TOO_LARGE, `the recording is larger than recordings.maxBytes (${maxBytes} bytes)`, 413, 'PAYLOAD_TOO_LARGE')
}

/** Why a callid cannot name a file (the store's rule), or null. */
function badCallid(callid: string): string | null {
  try {
    checkCallid(callid)
    return null
  } catch (err) {
    return (err as Error).message
  }
}

/**
 * A failure while receiving or committing, as the vendor answer. The store has already logged its
 * own refusals (reason and detail); this adds which box and call it was.
 */
function uploadError(hub: BoxHub, err: unknown, maxBytes: number, fields: Fields, req: FastifyRequest): BoxAnswer {
  const e = err as Error & { code?: string; statusCode?: number }
  const code = e?.code ?? ''
  const callid = fields.callid && !badCallid(fields.callid) ? { callid: fields.callid } : {}
  const ctx = { satellite: fields.satellite, callid: fields.callid, remote: req.socket.remoteAddress }
  const late = timedOut(req.raw)
  if (late) {
    hub.log.info({ ...ctx, why: late }, 'upload timed out; nothing kept')
    return fail(BOX_STATUS.SAVE_FAILED, `the upload timed out: ${late}`, { http: 408, error: 'REQUEST_TIMEOUT', ...callid })
  }
  if (err instanceof UploadAborted || code === 'FST_MP_PREMATURE_CLOSE') {
    hub.log.info({ ...ctx, err: e?.message }, 'upload cut off by the client; nothing kept')
    return fail(BOX_STATUS.SAVE_FAILED, 'the upload was cut off', { http: 400, error: 'BAD_REQUEST', ...callid })
  }
  if (err instanceof RecordingTooLarge || code === 'FST_REQ_FILE_TOO_LARGE') {
    hub.log.info({ ...ctx, maxBytes }, 'upload refused: larger than recordings.maxBytes; nothing kept')
    return fail(BOX_STATUS.TOO_LARGE, `the recording is larger than recordings.maxBytes (${maxBytes} bytes)`, { http: 413, error: 'PAYLOAD_TOO_LARGE', ...callid })
  }
  if (err instanceof ChecksumMismatch) {
    hub.log.info(ctx, 'upload refused: fileMd5 mismatch; nothing kept')
    return fail(BOX_STATUS.SAVE_FAILED, e.message, { http: 400, error: 'BAD_REQUEST', ...callid })
  }
  if (err instanceof InvalidRecording) {
    hub.log.info({ ...ctx, err: e.message }, 'upload refused: invalid field; nothing kept')
    return fail(BOX_STATUS.BAD_FIELD, e.message, { http: 400, error: 'BAD_REQUEST', ...callid })
  }
  if (err instanceof StorageError) {
    hub.log.error({ ...ctx, err: e.message, errno: err.errno }, 'upload NOT stored: the recordings directory cannot be written; the box will retry')
    return fail(BOX_STATUS.SAVE_FAILED, `cannot store the recording: ${e.message}`, { http: 507, error: 'INSUFFICIENT_STORAGE', ...callid })
  }
  if (err instanceof MalformedMultipart || code.startsWith('FST_') || (e?.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500)) {
    hub.log.warn({ ...ctx, err: e.message, code }, 'upload refused: malformed multipart body')
    return fail(BOX_STATUS.BAD_FIELD, `malformed multipart body: ${e.message}`, { http: 400, error: 'BAD_REQUEST', ...callid })
  }
  hub.log.error({ ...ctx, err }, 'upload NOT stored: unexpected error; the box will retry')
  return fail(BOX_STATUS.SAVE_FAILED, 'cannot store the recording: internal error', { http: 500, error: 'INTERNAL', ...callid })
}

async function drain(s: Readable): Promise<void> {
  for await (const _ of s) {
    // dropped
  }
}

/** Read what is left of a refused body so the answer reaches the client (bounded in time). */
function drainRequest(req: FastifyRequest): Promise<void> {
  const raw = req.raw
  // a timed-out body is not waited for: its connection is closed after the answer
  if (raw.readableEnded || raw.destroyed || timedOut(raw)) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(done, DRAIN_MS)
    function done(): void {
      clearTimeout(timer)
      raw.off('end', done)
      raw.off('close', done)
      resolve()
    }
    raw.on('end', done)
    raw.on('close', done)
    raw.resume()
  })
}

/** The API's answer (seed 003 §1.2 codes): 0 ok, -2 auth, -3 bad field, -11 missing, -13 file save failed. */
export interface FileAnswer {
  http: number
  body: { code: number; message: string; callid?: string }
}

/**
 * `upload_record_file.html` (seed 003 §2.1.5): `fileName` (base64 when `isBase` is true), `fileMd5`,
 * and the audio in the multipart file part `fileGsm`. Stored like a box upload: the file name without
 * its extension is the callid, `satellite` (or `mac`) names the box, which must be one the box
 * endpoint accepts. The rest of the seed's upload fields (`channel`, `direction`…) are kept if sent.
 */
export async function receiveRecordFile(hub: BoxHub, req: FastifyRequest, query: Record<string, unknown>, authed: (fields: Fields) => FileAnswer | null): Promise<FileAnswer> {
  const store = hub.deps.recordings
  const maxBytes = hub.maxUploadBytes
  const fields = newFields()
  addFields(fields, query)
  const answer = (http: number, code: number, message: string): FileAnswer => ({ http, body: { code, message } })
  if (!req.isMultipart()) return answer(400, -3, 'upload_record_file.html takes multipart/form-data with the file in the part fileGsm')
  let tmp: TempUpload | null = null
  let file: { filename: string; mimetype: string } | null = null
  let current: Readable | null = null
  let committed = false
  try {
    try {
      const it = req
        .parts({ limits: { fileSize: maxBytes + 1, files: 1, fields: MAX_FIELDS, fieldSize: FIELD_MAX, parts: MAX_FIELDS + 1, headerPairs: 100, fieldNameSize: 200 } })
        [Symbol.asyncIterator]()
      for (;;) {
        const part = await nextPart(it)
        if (!part) break
        if (part.type === 'field') {
          if (part.valueTruncated || part.fieldnameTruncated) return answer(400, -3, `field ${part.fieldname.slice(0, 40)} is longer than ${FIELD_MAX} bytes`)
          addFields(fields, { [part.fieldname]: part.value })
          continue
        }
        file = { filename: part.filename, mimetype: part.mimetype }
        current = part.file
        // refused before a byte goes to disk: wrong credentials or an unknown box
        if (authed(fields) || hub.knownRefused({ satellite: fields.satellite ?? fields.mac ?? '' })) {
          await drain(part.file)
          continue
        }
        tmp = await store.receive(part.file, { maxBytes })
        if (part.file.truncated || tmp.size > maxBytes) return answer(413, -12, `the recording is larger than recordings.maxBytes (${maxBytes} bytes)`)
      }
    } catch (err) {
      if (current && !current.destroyed) current.resume()
      await drainRequest(req)
      const a = uploadError(hub, err, maxBytes, fields, req)
      return answer(a.http, -13, String(a.body.message))
    }
    const refused = authed(fields)
    if (refused) return refused
    const box = hub.identify({ ...fields, satellite: fields.satellite ?? fields.mac ?? '' }, req.socket.remoteAddress)
    if (!('mac' in box)) return answer(box.http, -5, typeof box.body.message === 'string' ? box.body.message : 'box not registered')
    if (!tmp) return answer(400, -11, 'no file: the recording goes in the multipart file part fileGsm')
    let name = (fields.fileName ?? file?.filename ?? '').trim()
    if (/^(true|1)$/i.test(fields.isBase ?? '')) name = Buffer.from(name, 'base64').toString('utf8')
    name = name.replace(/^.*[\\/]/, '')
    const dot = name.lastIndexOf('.')
    const callid = dot > 0 ? name.slice(0, dot) : name
    const problem = callid ? badCallid(callid) : 'fileName names no file'
    if (problem) return answer(400, -3, `fileName: ${problem}`)
    const ext = audioExt(name, file?.mimetype, tmp.head)
    const claimed = fields.fileMd5?.trim() || undefined
    let result
    try {
      const stored = withParamvalue(hub, box, { ...fields, callid, satellite: fields.satellite ?? fields.mac ?? '' })
      result = await store.commit(tmp, { callid, ext, box: box.mac, fields: stored, events: ['cdr', 'recording'], ...(claimed ? { fileMd5: claimed } : {}) })
    } catch (err) {
      const a = uploadError(hub, err, maxBytes, fields, req)
      return answer(a.http, -13, typeof a.body.message === 'string' ? a.body.message : 'not stored')
    }
    committed = true
    box.uploads++
    if (result.outcome !== 'duplicate') hub.uploadBytes.inc(undefined, tmp.size)
    hub.log.info({ box: box.id, callid, size: tmp.size, outcome: result.outcome }, 'upload_record_file.html: recording stored')
    return { http: 200, body: { code: 0, message: '', callid } }
  } finally {
    if (tmp && !committed) await store.discard(tmp).catch((err) => hub.log.error({ err, path: tmp?.path }, 'could not delete an upload temp file'))
  }
}
