/**
 * The one HTTP client the vendor adapters use (LQ vack, Guoxin, Yantong): global fetch with a
 * per-request timeout, typed failures, and a retry helper meant for queries only. Control actions
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

export async function httpRequest(url: string, req: HttpRequest): Promise<HttpResponse> {
  const full = withQuery(url, req.query)
  const timeout = AbortSignal.timeout(req.timeoutMs)
  const signal = req.signal ? AbortSignal.any([timeout, req.signal]) : timeout
  let res: Response
  try {
    res = await fetch(full, { method: req.method ?? (req.body === undefined ? 'GET' : 'POST'), body: req.body, headers: req.headers, signal, redirect: 'manual' })
    const body = await readCapped(res, full)
    return { status: res.status, headers: res.headers, body }
  } catch (err) {
    throw mapFetchError(err, full, req.timeoutMs, timeout)
  }
}

async function readCapped(res: Response, url: string): Promise<Buffer> {
  if (!res.body) return Buffer.alloc(0)
  const chunks: Buffer[] = []
  let n = 0
  for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
    n += c.byteLength
    if (n > MAX_RESPONSE_BYTES) throw new HttpUnreachableError(url, `answer larger than ${MAX_RESPONSE_BYTES} bytes`)
    chunks.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength))
  }
  return Buffer.concat(chunks, n)
}

function mapFetchError(err: unknown, url: string, timeoutMs: number, timeout: AbortSignal): Error {
  if (err instanceof HttpUnreachableError || err instanceof HttpTimeoutError) return err
  const e = err as Error & { cause?: { code?: string; message?: string } }
  if (timeout.aborted || e.name === 'TimeoutError') return new HttpTimeoutError(url, timeoutMs)
  if (e.name === 'AbortError') return e
  return new HttpUnreachableError(url, e.cause?.code ?? e.cause?.message ?? e.message)
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
