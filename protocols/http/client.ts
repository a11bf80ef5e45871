import { request as httpRequestRaw, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'

/**
 * The one HTTP client the vendor adapters and webhooks use (LQ vack, Guoxin, Yantong): node:http
 * with a per-request timeout, typed failures, and a retry helper meant for queries only. Control actions
 * must never go through `retrying`: a dial that timed out may still have been placed.
 */

export interface HttpRequest {
  method?: 'GET' | 'POST'
  /** query parameters appended to the URL */
  query?: Record<string, string | number | undefined>
  /** a form (application/x-www-form-urlencoded) body, already encoded, or raw bytes */
  body?: string | Uint8Array
  headers?: Record<string, string>
  timeoutMs: number
  signal?: AbortSignal
}

export interface HttpResponse {
  status: number
  headers: Headers
  body: Buffer
}

/** No answer within the timeout. */
export class HttpTimeoutError extends Error {
  override name = 'HttpTimeoutError'
  constructor(
    readonly url: string,
    readonly timeoutMs: number,
  ) {
    super(`no answer from ${url} within ${timeoutMs} ms`)
  }
}

/** The connection failed (refused, reset, DNS): nothing was answered. */
export class HttpUnreachableError extends Error {
  override name = 'HttpUnreachableError'
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot reach ${url}: ${reason}`)
  }
}

/** Largest vendor answer we read; a bigger one is cut off with an error, not buffered. */
export const MAX_RESPONSE_BYTES = 16 << 20

export function withQuery(url: string, query?: HttpRequest['query']): string {
  if (!query) return url
  const u = new URL(url)
  for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v))
  return u.toString()
}

export interface OpenOptions {
  method?: string
  headers?: Record<string, string>
  body?: string | Uint8Array
  timeoutMs: number
  signal?: AbortSignal
}

function abortError(): Error {
  return Object.assign(new Error('aborted'), { name: 'AbortError' })
}

/**
 * One request over node:http(s), sent exactly once. Not fetch: undici silently repeats a request
 * answered 421 (Guoxin uses 421 for "需付费开通", and a proxy may send it), and a control call must go
 * out exactly once; fetch also cannot report a 1xx as an answer. Resolves when the answer's headers
 * are in; `timeoutMs` covers connecting and waiting for them. The body is the caller's to read.
 */
export function openRequest(url: string, o: OpenOptions): Promise<IncomingMessage> {
  const u = new URL(url)
  const send = u.protocol === 'https:' ? httpsRequest : httpRequestRaw
  const body = typeof o.body === 'string' ? Buffer.from(o.body) : o.body
  const headers: Record<string, string> = { accept: '*/*', ...o.headers }
  if (body) headers['content-length'] = String(body.byteLength)
  return new Promise((resolve, reject) => {
    let done = false
    const finish = (err: Error | null, res?: IncomingMessage) => {
      if (done) return
      done = true
      clearTimeout(timer)
      o.signal?.removeEventListener('abort', onAbort)
      if (err) {
        req.destroy()
        reject(err)
      } else resolve(res!)
    }
    const onAbort = () => finish(abortError())
    const req = send(u, { method: o.method ?? (body === undefined ? 'GET' : 'POST'), headers }, (res) => finish(null, res))
    // before anything can destroy it: a request destroyed with no error listener is an uncaught 'socket hang up'
    req.on('error', (err: NodeJS.ErrnoException) => finish(new HttpUnreachableError(url, err.code ?? err.message)))
    const timer = setTimeout(() => finish(new HttpTimeoutError(url, o.timeoutMs)), o.timeoutMs)
    if (o.signal?.aborted) return finish(abortError())
    o.signal?.addEventListener('abort', onAbort, { once: true })
    req.end(body)
  })
}

export interface RawResponse {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

/** The whole answer within `timeoutMs` (headers and body), at most MAX_RESPONSE_BYTES. */
export async function requestRaw(url: string, o: OpenOptions): Promise<RawResponse> {
  const t0 = performance.now()
  const res = await openRequest(url, o)
  const left = Math.max(1, o.timeoutMs - (performance.now() - t0))
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let n = 0
    let done = false
    const finish = (err: Error | null) => {
      if (done) return
      done = true
      clearTimeout(timer)
      o.signal?.removeEventListener('abort', onAbort)
      if (err) {
        res.destroy()
        reject(err)
      } else resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, n) })
    }
    const onAbort = () => finish(abortError())
    o.signal?.addEventListener('abort', onAbort, { once: true })
    const timer = setTimeout(() => finish(new HttpTimeoutError(url, o.timeoutMs)), left)
    res.on('data', (c: Buffer) => {
      n += c.length
      if (n > MAX_RESPONSE_BYTES) return finish(new HttpUnreachableError(url, `answer larger than ${MAX_RESPONSE_BYTES} bytes`))
      chunks.push(c)
    })
    res.on('end', () => finish(null))
    res.on('error', (err: NodeJS.ErrnoException) => finish(new HttpUnreachableError(url, err.code ?? err.message)))
    res.on('aborted', () => finish(new HttpUnreachableError(url, 'answer cut off')))
  })
}

export async function httpRequest(url: string, req: HttpRequest): Promise<HttpResponse> {
  const raw = await requestRaw(withQuery(url, req.query), req)
  const headers = new Headers()
  for (const [k, v] of Object.entries(raw.headers)) {
    if (v === undefined) continue
    for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one)
  }
  return { status: raw.status, headers, body: raw.body }
}

/**
 * Run a query up to `attempts` times with doubling delays (base, 2·base, …) on timeouts and
 * unreachable errors. Other errors (a vendor refusal, a parse error) are not retried.
 */
export async function retrying<T>(fn: () => Promise<T>, opts: { attempts?: number; baseMs?: number; signal?: AbortSignal } = {}): Promise<T> {
  const attempts = opts.attempts ?? 3
  const base = opts.baseMs ?? 200
  for (let i = 1; ; i++) {
    try {
      return await fn()
    } catch (err) {
      const transient = err instanceof HttpTimeoutError || err instanceof HttpUnreachableError
      if (!transient || i >= attempts || opts.signal?.aborted) throw err
      await new Promise((r) => setTimeout(r, base * 2 ** (i - 1)))
    }
  }
}
