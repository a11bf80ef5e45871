/**
 * GET over node:http for the Guoxin client. Not fetch: undici silently repeats a request answered
 * 421 (which Guoxin uses for "需付费开通"), and a control call must go out exactly once; it also
 * cannot report a 1xx as an answer (see statusLine in client.ts).
 */
import { request as httpGet, type IncomingMessage } from 'node:http'
import { request as httpsGet } from 'node:https'
import { HttpTimeoutError, HttpUnreachableError, MAX_RESPONSE_BYTES } from '../http/client.js'

export interface GetOptions {
  timeoutMs: number
  signal?: AbortSignal
  headers?: Record<string, string>
  method?: 'GET' | 'HEAD'
}

function abortError(): Error {
  return Object.assign(new Error('aborted'), { name: 'AbortError' })
}

/**
 * Resolves when the answer's headers are in; `timeoutMs` covers connecting and waiting for them.
 * The body is the caller's to read (or destroy).
 */
export function openGet(url: string, o: GetOptions): Promise<IncomingMessage> {
  const u = new URL(url)
  const get = u.protocol === 'https:' ? httpsGet : httpGet
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
    const req = get(u, { method: o.method ?? 'GET', headers: { accept: '*/*', ...o.headers } }, (res) => finish(null, res))
    const timer = setTimeout(() => finish(new HttpTimeoutError(url, o.timeoutMs)), o.timeoutMs)
    if (o.signal?.aborted) return finish(abortError())
    o.signal?.addEventListener('abort', onAbort, { once: true })
    req.on('error', (err: NodeJS.ErrnoException) => finish(new HttpUnreachableError(url, err.code ?? err.message)))
    req.end()
  })
}

export interface GetResponse {
  status: number
  headers: IncomingMessage['headers']
  body: Buffer
}

/** The whole answer, within `timeoutMs` (headers and body), at most MAX_RESPONSE_BYTES. */
export async function get(url: string, o: GetOptions): Promise<GetResponse> {
  const t0 = performance.now()
  const res = await openGet(url, o)
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
