import { request, type ClientRequest, type IncomingMessage } from 'node:http'

export interface SseEvent {
  id: string | null
  event: string
  data: unknown
}

/** A real SSE client over node:http: collects parsed events; `next(pred)` waits for a matching one. */
export class SseReader {
  readonly events: SseEvent[] = []
  private waiters: { pred: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; from: number }[] = []
  private req: ClientRequest | null = null
  res: IncomingMessage | null = null
  status = 0
  closed = false
  private buf = ''

  static open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
    const r = new SseReader()
    return new Promise((resolve, reject) => {
      r.req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
        r.res = res
        r.status = res.statusCode ?? 0
        res.setEncoding('utf8')
        res.on('data', (s: string) => r.feed(s))
        res.on('close', () => {
          r.closed = true
        })
        resolve(r)
      })
      r.req.on('error', (e) => (r.res ? (r.closed = true) : reject(e)))
      r.req.end()
    })
  }

  private feed(s: string): void {
    this.buf += s
    let i: number
    while ((i = this.buf.indexOf('\n\n')) >= 0) {
      const block = this.buf.slice(0, i)
      this.buf = this.buf.slice(i + 2)
      let id: string | null = null
      let event = 'message'
      const data: string[] = []
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue
        const c = line.indexOf(':')
        const k = c < 0 ? line : line.slice(0, c)
        const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '')
        if (k === 'id') id = v
        else if (k === 'event') event = v
        else if (k === 'data') data.push(v)
      }
      if (!data.length) continue
      const raw = data.join('\n')
      let parsed: unknown = raw
      try {
        parsed = JSON.parse(raw)
      } catch {
        // not JSON: the data as it came
      }
      const e = { id, event, data: parsed }
      this.events.push(e)
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(e)) return true
        clearTimeout(w.timer)
        w.resolve(e)
        return false
      })
    }
  }

  /** The first event (already received or future) matching pred. */
  next(pred: (e: SseEvent) => boolean, timeoutMs = 5000): Promise<SseEvent> {
    const have = this.events.find(pred)
    if (have) return Promise.resolve(have)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer)
        reject(new Error(`no matching event within ${timeoutMs} ms; got: ${this.events.map((e) => e.event).join(',')}`))
      }, timeoutMs)
      this.waiters.push({ pred, resolve, reject, timer, from: this.events.length })
    })
  }

  /** Wait until `n` events of a type have arrived. */
  async count(event: string, n: number, timeoutMs = 5000): Promise<SseEvent[]> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const got = this.events.filter((e) => e.event === event)
      if (got.length >= n) return got
      if (Date.now() > deadline) throw new Error(`only ${got.length} of ${n} ${event} events within ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  close(): void {
    this.req?.destroy()
    this.closed = true
  }
}

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const r = await fetch(url, { headers })
  const text = await r.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON: the data as it came
  }
  return { status: r.status, body, headers: r.headers }
}

/** Poll `fn` (sync or async, e.g. reading /metrics) until it gives a truthy value. */
export async function until<T>(fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}
