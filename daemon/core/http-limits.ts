import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { IncomingMessage, ServerOptions } from 'node:http'
import { ApiError } from './errors.js'
import type { Infer, NumberSchema } from './schema.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * a multipart body on this route is an upload (a recording): it is bound by body idleness and
     * the minimum upload rate, not by requestTimeoutSeconds, however long it legitimately takes
     */
    uploads?: boolean
  }
}

/** Timeouts both listeners share: config keys of `api` and `ingest`. */
export const HTTP_LIMITS = {
  bodyIdleSeconds: { type: 'number', default: 30, min: 0.05, max: 3600, doc: 'a request whose body sends no byte for this long is answered 408 and closed' },
  headersTimeoutSeconds: { type: 'number', default: 15, min: 0.05, max: 3600, doc: 'the request line and headers must arrive within this' },
  requestTimeoutSeconds: { type: 'number', default: 60, min: 0.05, max: 86400, doc: 'a request that is no upload and no long poll must arrive whole within this' },
} as const satisfies Record<string, NumberSchema>

export type HttpLimits = Infer<{ type: 'object'; properties: typeof HTTP_LIMITS }>

export interface HttpLimitOptions extends HttpLimits {
  /** an upload that brings fewer bytes than this per second over a bodyIdleSeconds window gets 408; 0: no minimum */
  minUploadBytesPerSecond?: number
}

/** After a 408 is handed to the route's own error path, the socket is closed after this even if the answer never went out. */
const GRACE_MS = 2000

/** Requests answered 408 by the body timers, with the reason. */
const timedOutRequests = new WeakMap<IncomingMessage, string>()

/** Why the body timers cut this request off, or undefined: a route's error path answers 408 for it and skips draining the body. */
export function timedOut(raw: IncomingMessage): string | undefined {
  return timedOutRequests.get(raw)
}

/**
 * The fastify server options for these limits. Node's own timers are set deliberately: its
 * `requestTimeout` (default 300 s, whole request) is off, because uploads are legitimately
 * unbounded in time and the watcher below times every other body; `headersTimeout` is ours,
 * checked often enough (`connectionsCheckingInterval`, Node's default 30 s) to hold to within a
 * second; the socket inactivity timeout (`connectionTimeout`) stays off, since long polls and event
 * streams are quiet by design and keep-alive idleness has `keepAliveTimeout`.
 */
export function httpLimitOptions(l: HttpLimits): { connectionTimeout: number; requestTimeout: number; http: ServerOptions } {
  const headersMs = Math.round(l.headersTimeoutSeconds * 1000)
  return {
    connectionTimeout: 0,
    requestTimeout: 0,
    http: { headersTimeout: headersMs, requestTimeout: 0, connectionsCheckingInterval: clamp(Math.round(headersMs / 4), 25, 1000) },
  }
}

interface Watch {
  req: FastifyRequest
  reply: FastifyReply
  upload: boolean
  start: number
  /** socket.bytesRead when last seen moving */
  bytes: number
  lastByteAt: number
  windowStart: number
  windowBytes: number
}

/**
 * Times the arrival of every request body on one fastify instance: a body that sends no byte for
 * bodyIdleSeconds, a request (no upload) that has not arrived whole within requestTimeoutSeconds,
 * or an upload slower than minUploadBytesPerSecond over a bodyIdleSeconds window is answered 408
 * and its connection closed. Only the arrival is timed: once the body is in, a handler may hold the
 * answer as long as it likes (long polls), so no route needs exempting from the overall limit.
 *
 * Progress is read from the socket's byte count on a shared tick rather than from 'data' events,
 * which would switch the request stream into flowing mode before its consumer (fastify's body
 * parser, busboy) is attached. Bytes that arrived but that the server has not read yet count as
 * progress: a stall on our side (slow disk) is not the client's.
 *
 * On a timeout the error is handed to whoever reads the body (fastify's parser, busboy): the
 * route's own error path then answers, in its own shape, and an upload's temp file goes with the
 * failed stream. When nobody reads the body yet the 408 is sent directly. Either way the answer
 * carries `Connection: close`, and the socket is destroyed when it is written (or after GRACE_MS).
 */
export function installHttpLimits(app: FastifyInstance, l: HttpLimitOptions): void {
  const idleMs = l.bodyIdleSeconds * 1000
  const requestMs = l.requestTimeoutSeconds * 1000
  const minRate = l.minUploadBytesPerSecond ?? 0
  const tickMs = clamp(Math.round(Math.min(idleMs, requestMs) / 10), 20, 500)
  // by request: a body read whole is let go at preValidation, not held until the next tick
  const live = new Map<FastifyRequest, Watch>()
  let timer: NodeJS.Timeout | null = null

  const tick = (): void => {
    const now = performance.now()
    for (const w of live.values()) {
      const raw = w.req.raw
      const sock = raw.socket
      if (raw.complete || !sock || sock.destroyed) {
        live.delete(w.req)
        continue
      }
      const bytes = sock.bytesRead
      if (bytes !== w.bytes || raw.readableLength > 0) {
        w.bytes = bytes
        w.lastByteAt = now
      }
      let why: string | undefined
      if (now - w.lastByteAt >= idleMs) why = `no byte of the request body for ${l.bodyIdleSeconds} s (bodyIdleSeconds)`
      else if (!w.upload && now - w.start >= requestMs) why = `the request did not arrive whole within ${l.requestTimeoutSeconds} s (requestTimeoutSeconds)`
      else if (w.upload && now - w.windowStart >= idleMs) {
        if (minRate > 0 && bytes - w.windowBytes < (minRate * (now - w.windowStart)) / 1000) {
          why = `the upload brought ${bytes - w.windowBytes} bytes in ${l.bodyIdleSeconds} s, less than ${minRate} bytes/s (minUploadBytesPerSecond)`
        }
        w.windowStart = now
        w.windowBytes = bytes
      }
      if (why) {
        live.delete(w.req)
        expire(w, why)
      }
    }
    if (live.size === 0 && timer) {
      clearInterval(timer)
      timer = null
    }
  }

  app.addHook('onRequest', (req, reply, done) => {
    const raw = req.raw
    if (!raw.complete && raw.socket) {
      const now = performance.now()
      // the header first: req.routeOptions builds a new object on every read
      const upload = /^multipart\//i.test(req.headers['content-type'] ?? '') && req.routeOptions.config?.uploads === true
      const bytes = raw.socket.bytesRead
      live.set(req, { req, reply, upload, start: now, bytes, lastByteAt: now, windowStart: now, windowBytes: bytes })
      if (!timer) {
        timer = setInterval(tick, tickMs)
        timer.unref()
      }
    }
    done()
  })
  // held until the tick, every request's objects outlived a scavenge or two and were promoted: old-space GC
  app.addHook('preValidation', (req, _reply, done) => {
    if (req.raw.complete) live.delete(req)
    done()
  })
  app.addHook('onClose', (_app, done) => {
    if (timer) clearInterval(timer)
    timer = null
    live.clear()
    done()
  })
}

function expire(w: Watch, why: string): void {
  const { req, reply } = w
  const raw = req.raw
  const sock = raw.socket
  timedOutRequests.set(raw, why)
  req.log.info({ url: req.url.slice(0, 200), remote: sock.remoteAddress }, `request timed out, answered 408 and closed: ${why}`)
  const close = (): void => {
    clearTimeout(guard)
    if (!sock.destroyed) sock.destroy()
  }
  const guard = setTimeout(close, GRACE_MS)
  guard.unref()
  // answered already (a refusal): only the rest of the body is left, and nobody waits for it
  if (reply.sent || reply.raw.headersSent) return close()
  reply.raw.once('finish', () => setImmediate(close))
  reply.header('connection', 'close')
  const err = Object.assign(new ApiError('REQUEST_TIMEOUT', why), { statusCode: 408 })
  if (raw.listenerCount('error') > 0) raw.emit('error', err)
  else reply.code(408).send(err)
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, n))
}
