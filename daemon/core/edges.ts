import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { ApiError, type ErrorCode } from './errors.js'
import { JsonTooDeep, tooDeep } from './json-depth.js'

/**
 * What both listeners (local API, ingest) do at their edge, before any route runs: a bound on the
 * URL, JSON bodies refused when nested too deep, and the parser's own refusals (431, 414, 408, 400)
 * written in the documented error shape instead of fastify's.
 */

/** Longest request target (path and query) answered; longer gets 414 URI_TOO_LONG. */
export const MAX_URL_BYTES = 8 * 1024

/**
 * Spread into both listeners' `Fastify({…})` options: our answers for the parser's refusals, and a
 * path parameter as long as the URL may be, so every valid id routes (a 128-character callid was
 * over fastify's default 100 and got fastify's own 414) and the URL bound is the only length bound.
 */
export const EDGE_OPTIONS = {
  clientErrorHandler,
  routerOptions: { maxParamLength: MAX_URL_BYTES },
}

/**
 * Call right after `Fastify(…)`, before other hooks and routes: the URL check is the first
 * onRequest hook (before the bearer check), and the JSON parser is inherited by every plugin.
 */
export function installEdges(app: FastifyInstance): void {
  // a callback hook, not async: an async one costs a promise and a microtask on every request
  app.addHook('onRequest', (req, _reply, done) => {
    // req.url is the raw request target; Node's parser already refused anything over its header limit
    if (req.url.length > MAX_URL_BYTES) return done(new ApiError('URI_TOO_LONG', `the URL has ${req.url.length} bytes; at most ${MAX_URL_BYTES} are answered`))
    done()
  })
  // fastify's parser (secure-json-parse, prototype poisoning refused) and then a depth check without
  // recursion, so no route ever walks a body that makes JSON.stringify throw a RangeError
  const cfg = app.initialConfig
  const parse = app.getDefaultJsonParser(cfg.onProtoPoisoning ?? 'error', cfg.onConstructorPoisoning ?? 'error')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    // fastify's default parser is the callback kind: it returns nothing to await
    void parse(req, body as string, (err: Error | null, value?: unknown) => {
      if (err) return done(err, undefined)
      if (tooDeep(value)) return done(new JsonTooDeep(), undefined)
      done(null, value)
    })
  })
}

/**
 * fastify's `clientErrorHandler`: Node's HTTP parser refused the request before any route or hook
 * (headers over its 16 KiB limit, a URL longer than that, a malformed request line, the headers
 * timeout). Answered on the raw socket with a complete HTTP/1.1 response in our error shape, then
 * the connection is closed. The box endpoint gets this shape too: nothing is routed yet.
 */
export function clientErrorHandler(err: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  let code: ErrorCode
  let message: string | undefined
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    // Node counts the request line into the header limit: a request cut off inside its first line is a long URL
    if (requestLineTooLong(err.rawPacket)) code = 'URI_TOO_LONG'
    else code = 'HEADERS_TOO_LARGE'
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT') {
    code = 'REQUEST_TIMEOUT'
    message = 'the request did not arrive in time'
  } else {
    code = 'BAD_REQUEST'
    message = `malformed HTTP request (${err.code ?? err.message})`
  }
  const e = message === undefined ? new ApiError(code) : new ApiError(code, message)
  const body = JSON.stringify(e.toJSON())
  if (socket.writable) {
    const head = `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`
    // end, not destroy: the answer must leave before the connection goes
    socket.end(head + body)
    // a client that never closes its side is cut off
    setTimeout(() => socket.destroy(), 2000).unref()
  } else socket.destroy()
}

/** The packet Node refused starts a request and its first line alone is over the URL bound. */
function requestLineTooLong(packet: unknown): boolean {
  if (!Buffer.isBuffer(packet) || !/^[A-Z]{3,10} /.test(packet.subarray(0, 11).toString('latin1'))) return false
  const eol = packet.indexOf('\n')
  return (eol === -1 ? packet.length : eol) > MAX_URL_BYTES
}
