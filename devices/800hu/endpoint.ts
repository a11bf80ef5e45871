import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import multipart from '@fastify/multipart'
import { ApiError } from '../../daemon/core/errors.js'
import { JsonTooDeep } from '../../daemon/core/json-depth.js'
import type { RoutePlugin } from '../../daemon/core/http.js'
import { errorSchema } from '../../daemon/core/route-schema.js'
import { timedOut } from '../../daemon/core/http-limits.js'
import type { BoxSource } from './box.js'
import { commandWire, type PollWaiter } from './commands.js'
import { VENDOR_PATHS } from './config.js'
import { parseForm, requestFields, type Fields } from './fields.js'
import type { BoxHub } from './hub.js'
import { parseBoxStatus, StatusError } from './status.js'
import { receiveRecordFile, receiveUpload, uploadWithoutFile } from './upload.js'
import { BOX_STATUS, fail, messages, ok, type BoxAnswer } from '../../protocols/800hu/answers.js'

/** A status post's `status` JSON, urlencoded bodies and the like: far below this. Uploads are multipart and not bound by it. */
const FORM_LIMIT = 1 << 20

/**
 * The box endpoint on the ingest listener (seed 003 §2.1.10): the vendor's paths plus
 * `boxes.paths`, POST only, fields from the query string, urlencoded, multipart or JSON. Everything
 * is answered in the vendor's JSON shapes; the box reads `status`.
 */
export function boxEndpoint(hub: BoxHub): RoutePlugin {
  // multipart requests in progress by remote address (boxes.maxUploadsPerIp)
  const uploading = new Map<string, number>()
  return (app: FastifyInstance) => {
    // an encapsulated context: the multipart and form parsers apply to the box paths only
    app.register(async (sub) => {
      if (!sub.hasRequestDecorator('parts')) await sub.register(multipart, { throwFileSizeLimit: true })
      if (!sub.hasContentTypeParser('application/x-www-form-urlencoded')) {
        sub.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_LIMIT }, (_req, body, done) => {
          done(null, parseForm(body as string))
        })
      }
      // a body fastify cannot parse (bad JSON, too large, unknown type) still gets the vendor's shape
      sub.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
        const late = timedOut(req.raw)
        if (late) {
          hub.requests.inc({ cmd: 'other', status: String(BOX_STATUS.BAD_FIELD) })
          const a = fail(BOX_STATUS.BAD_FIELD, `request timed out: ${late}`, { http: 408, error: 'REQUEST_TIMEOUT' })
          return reply.code(a.http).header('connection', 'close').send(a.body)
        }
        if (err instanceof ApiError) return reply.code(err.status).send(err.toJSON())
        const status = err.statusCode ?? 500
        const large = err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413
        if (status >= 500) req.log.error({ err, url: req.url }, 'box request failed')
        else req.log.info({ url: req.url, code: err.code, remote: req.socket.remoteAddress }, `box request refused: ${err.message}`)
        hub.requests.inc({ cmd: 'other', status: large ? String(BOX_STATUS.TOO_LARGE) : String(BOX_STATUS.BAD_FIELD) })
        const a = large
          ? fail(BOX_STATUS.TOO_LARGE, `request body larger than ${FORM_LIMIT} bytes (recordings go in a multipart file part)`, { http: 413, error: 'PAYLOAD_TOO_LARGE' })
          : status < 500
            ? fail(BOX_STATUS.BAD_FIELD, `unreadable request body: ${err.message}`, { http: 400, error: 'BAD_REQUEST' })
            : fail(BOX_STATUS.BAD_FIELD, 'internal error', { http: 500, error: 'INTERNAL' })
        return reply.code(a.http).send(a.body)
      })
      // §2.1.5 upload_record_file.html: a recording file stored like a box upload (the box named by satellite)
      sub.post(RECORD_FILE_PATH, { bodyLimit: FORM_LIMIT, config: { uploads: true }, schema: recordFileSchema }, async (req, reply) => {
        const a = await receiveRecordFile(hub, req, req.query as Record<string, unknown>, () => null)
        hub.requests.inc({ cmd: 'upload_record_file', status: String(a.body.code) })
        if (a.http >= 400) reply.header('connection', 'close')
        return reply.code(a.http).send(a.body)
      })
      const paths = [...VENDOR_PATHS, ...hub.config.paths]
      for (const url of paths) {
        // uploads: bound by body idleness and the minimum rate, not by requestTimeoutSeconds (http-limits.ts)
        sub.post(url, { bodyLimit: FORM_LIMIT, config: { uploads: true }, schema: postSchema }, (req, reply) => handle(hub, uploading, req, reply))
        sub.route({
          method: ['GET', 'PUT', 'DELETE', 'PATCH'],
          url,
          schema: { summary: 'Refused: 405, the box endpoint takes POST only', tags: ['800hu boxes'], response: { '4xx': errorSchema } },
          handler: async (req) => {
            throw new ApiError('METHOD_NOT_ALLOWED', `the 800hu box endpoint takes POST only (boxes never send ${req.method}); point the box's upload URL here`).with({ allow: 'POST' })
          },
        })
      }
    })
  }
}

export const RECORD_FILE_PATH = '/voip/api/upload_record_file.html'

export const recordFileSchema = {
  summary: 'upload_record_file.html (seed 003 §2.1.5): fileName (base64 when isBase), fileMd5, the audio in the multipart part fileGsm; the box in satellite',
  tags: ['800hu boxes'],
  response: {
    200: { description: "the vendor API's answer", type: 'object', properties: { code: { type: 'integer' }, message: { type: 'string' }, callid: { type: 'string' } } },
    '4xx': { description: "refused, in the vendor API's shape", type: 'object', properties: { code: { type: 'integer' }, message: { type: 'string' } } },
    '5xx': { description: "not stored, in the vendor API's shape", type: 'object', properties: { code: { type: 'integer' }, message: { type: 'string' } } },
  },
}

/**
 * Documentation only: the box sends its fields by query, urlencoded, multipart or JSON, and every
 * answer must stay in the vendor's shape, so nothing here is validated (no params, querystring or
 * body schema: a fastify 400 would not be the vendor's answer).
 */
const postSchema = {
  summary: "An 800hu box's post (seed 003 §2.1.10): cmd=channelstatus, upload (multipart WAV) or getMessageList (long poll)",
  description: "Fields (cmd, mac, status, …) by query string, urlencoded, multipart or JSON body; answered in the vendor's JSON ({time, status, …}).",
  tags: ['800hu boxes'],
  response: { 200: { description: "the vendor's answer", type: 'object', properties: { status: { type: 'integer' }, time: { type: 'string' } } } },
}

async function handle(hub: BoxHub, uploading: Map<string, number>, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const path = req.url.split('?')[0]
  const query = req.query as Record<string, unknown>
  if (path === '/voip/api/jsondata.html') {
    const method = typeof query.method === 'string' ? query.method : undefined
    if (method !== 'upload_record') {
      // the vendor API's shape and codes: this listener serves the boxes only
      return reply
        .code(200)
        .send({ code: -5, message: `method ${JSON.stringify(method ?? '')} is not served on the box listener; only method=upload_record is (the local 800hu API is on the API listener)` })
    }
  }
  let answer: BoxAnswer
  let cmd = '?'
  try {
    if (req.isMultipart()) {
      const ip = req.socket.remoteAddress ?? ''
      const n = uploading.get(ip) ?? 0
      if (n >= hub.config.maxUploadsPerIp) {
        // answered at once, body unread: a box gets its answer, and a stranger holding its own share frees nothing by waiting
        hub.requests.inc({ cmd: 'upload', status: String(BOX_STATUS.SAVE_FAILED) })
        hub.log.warn({ remote: ip, uploads: n }, 'upload refused: too many uploads at once from this address (boxes.maxUploadsPerIp)')
        const a = fail(BOX_STATUS.SAVE_FAILED, `too many uploads at once from ${ip} (boxes.maxUploadsPerIp is ${hub.config.maxUploadsPerIp}); try again later`, {
          http: 503,
          error: 'TOO_MANY_CLIENTS',
        })
        return reply.code(a.http).header('connection', 'close').header('retry-after', '5').send(a.body)
      }
      uploading.set(ip, n + 1)
      reply.raw.once('close', () => {
        const left = (uploading.get(ip) ?? 1) - 1
        if (left > 0) uploading.set(ip, left)
        else uploading.delete(ip)
      })
      const r = await receiveUpload(hub, req, query)
      cmd = r.cmd
      answer = r.answer ?? (await dispatch(hub, r.fields, req, reply))
    } else {
      const fields = requestFields(query, req.body)
      cmd = fields.cmd ?? ''
      const a = dispatch(hub, fields, req, reply)
      // a status post is answered without a promise in between
      answer = a instanceof Promise ? await a : a
    }
  } catch (err) {
    if (err instanceof JsonTooDeep) {
      req.log.info({ url: req.url, remote: req.socket.remoteAddress }, `box request refused: ${err.message}`)
      answer = fail(BOX_STATUS.BAD_FIELD, err.message, { http: 400, error: 'BAD_REQUEST' })
    } else {
      req.log.error({ err, url: req.url }, 'box request failed')
      answer = fail(BOX_STATUS.BAD_FIELD, 'internal error', { http: 500, error: 'INTERNAL' })
    }
  }
  hub.requests.inc({ cmd: countedCmd(cmd), status: String(answer.body.status) })
  if (reply.sent) return reply
  if (answer.http >= 400 && (req.isMultipart() || answer.http === 408)) reply.header('connection', 'close')
  return reply.code(answer.http).send(answer.body)
}

const KNOWN_CMDS = new Set(['channelstatus', 'upload', 'getMessageList'])
function countedCmd(cmd: string): string {
  return KNOWN_CMDS.has(cmd) ? cmd : 'other'
}

/** One box request whose fields are all known (and, for uploads, whose file is already handled). */
export function dispatch(hub: BoxHub, fields: Fields, req: FastifyRequest, reply: FastifyReply): BoxAnswer | Promise<BoxAnswer> {
  const box = hub.identify(fields, req.socket.remoteAddress)
  if (!('mac' in box)) return box
  switch (fields.cmd) {
    case 'channelstatus':
      return channelStatus(hub, box, fields)
    case 'upload':
      return uploadWithoutFile(hub, box, fields)
    case 'getMessageList':
      return longPoll(hub, box, reply)
    default:
      // the vendor: "其它命令默认返回 {time, status: 0}"
      return ok()
  }
}

function channelStatus(hub: BoxHub, box: BoxSource, fields: Fields): BoxAnswer {
  const raw = fields.status
  if (raw === undefined || raw === '') return fail(BOX_STATUS.MISSING, 'cmd=channelstatus needs the status field', { http: 400, error: 'BAD_REQUEST' })
  let report
  try {
    report = parseBoxStatus(raw)
  } catch (err) {
    if (!(err instanceof StatusError)) throw err
    // logged at warn: a box sending this keeps sending it, and its channels stay as they were
    box.noteBadStatus(err.message)
    hub.log.warn({ box: box.id, err: err.message, status: raw.slice(0, 200) }, 'channelstatus refused; the channel table is unchanged')
    return fail(BOX_STATUS.BAD_FIELD, err.message, { http: 400, error: 'BAD_REQUEST' })
  }
  box.applyStatus(report)
  return ok()
}

function longPoll(hub: BoxHub, box: BoxSource, reply: FastifyReply): Promise<BoxAnswer> {
  return new Promise<BoxAnswer>((resolve) => {
    let answered = false
    const res = reply.raw
    const waiter: PollWaiter = {
      answer(cmds, onWritten) {
        if (answered) return onWritten(false)
        answered = true
        if (cmds === null) {
          resolve(fail(BOX_STATUS.NO_MESSAGE))
          return onWritten(true)
        }
        if (res.destroyed) return onWritten(false)
        let settled = false
        const settle = (written: boolean): void => {
          if (settled) return
          settled = true
          onWritten(written)
        }
        res.once('finish', () => settle(true))
        res.once('close', () => settle(res.writableFinished))
        resolve(messages(cmds.map(commandWire)))
      },
    }
    const cancel = hub.queues.poll(box.mac, hub.config.longPollSeconds * 1000, waiter)
    res.once('close', () => {
      if (answered) return
      // the box hung up on its poll: forget it (no answer to write)
      answered = true
      cancel()
      resolve(fail(BOX_STATUS.NO_MESSAGE))
    })
  })
}
