import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { MAX_URL_BYTES } from '../daemon/core/edges.js'
import { MAX_JSON_DEPTH, tooDeep } from '../daemon/core/json-depth.js'
import { MAC, MAC12, statusJson } from './helpers/boxes.js'

/**
 * Issue 9 item 4: hostile request shapes get a 4xx in the documented shape (the vendor's -3 on the
 * box endpoint), never a 500 with a stack in the log.
 */

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n)
const deepObj = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)

interface LogLine {
  level: number
  msg: string
  err?: { type?: string; stack?: string }
}

async function start(): Promise<{ api: string; ingest: string; logs: LogLine[]; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tb-edges-'))
  const logs: LogLine[] = []
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) logs.push(JSON.parse(l))
      cb()
    },
  })
  const config = parseConfig({
    api: { port: 0 },
    ingest: { host: '127.0.0.1', port: 0 },
    dataDir: dir,
    boxes: { allow: [MAC], localApi: { user: 'admin', password: 'pw' } },
  })
  const daemon = new Daemon(config, { log: pino({ level: 'info' }, sink) })
  const { apiUrl, ingestUrl } = await daemon.start()
  return {
    api: apiUrl,
    ingest: ingestUrl!,
    logs,
    async stop() {
      await daemon.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function post(url: string, body: string, contentType: string): Promise<{ status: number; body: any }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body })
  const text = await r.text()
  try {
    return { status: r.status, body: JSON.parse(text) }
  } catch {
    return { status: r.status, body: text }
  }
}

/** Write bytes on a raw connection and read everything until the server closes it. */
function raw(url: string, data: string): Promise<string> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname)
    let got = ''
    s.setEncoding('latin1')
    s.on('data', (d) => (got += d))
    s.on('error', (err) => (got ? resolve(got) : reject(err)))
    s.on('close', () => resolve(got))
    s.setTimeout(5000, () => s.destroy())
    s.write(data)
  })
}

function parseResponse(text: string): { status: number; headers: Record<string, string>; body: any } {
  const [head, ...rest] = text.split('\r\n\r\n')
  const lines = head!.split('\r\n')
  const headers: Record<string, string> = {}
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':')
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim()
  }
  const body = rest.join('\r\n\r\n')
  t.equal(Buffer.byteLength(body), Number(headers['content-length']), 'the whole body, as Content-Length says')
  return { status: Number(lines[0]!.split(' ')[1]), headers, body: JSON.parse(body) }
}

t.test('tooDeep counts without recursion', async (t) => {
  t.equal(tooDeep(JSON.parse(deep(MAX_JSON_DEPTH))), false)
  t.equal(tooDeep(JSON.parse(deep(MAX_JSON_DEPTH + 1))), true)
  t.equal(tooDeep(JSON.parse(deep(100_000))), true, '100k levels: no RangeError')
  t.equal(tooDeep({ a: [1, { b: 'x' }], c: null }), false)
  t.equal(tooDeep('x'), false)
})

t.test('hostile bodies, URLs and headers', async (t) => {
  const d = await start()
  t.teardown(() => d.stop())
  const box = `${d.ingest}/voip/api/upload_record`

  await t.test('multipart without a boundary, with an empty one, with one the body never uses: 400, -3', async (t) => {
    const body = '--abc\r\nContent-Disposition: form-data; name="cmd"\r\n\r\nupload\r\n--abc--\r\n'
    for (const ct of ['multipart/form-data', 'multipart/form-data; boundary=', 'multipart/form-data; boundary=XYZ', 'multipart/form-data; charset=utf-8']) {
      const r = await post(box, body, ct)
      t.equal(r.status, 400, ct)
      t.equal(r.body.status, -3, `${ct}: the vendor's code`)
      t.equal(r.body.error, 'BAD_REQUEST')
      t.match(r.body.message, /malformed multipart body/)
    }
    // a broken part header in a body that does use its boundary
    const r = await post(box, '--abc\r\nno header here\r\n\r\nx\r\n--abc--\r\n', 'multipart/form-data; boundary=abc')
    t.ok(r.status === 400 || r.status === 200, `broken part header: ${r.status}, never 500`)
  })

  await t.test('a 100k-deep JSON body on the box endpoint: 400, -3', async (t) => {
    for (const body of [`{"cmd":"channelstatus","satellite":"${MAC}","status":${deep(100_000)}}`, deep(100_000), deepObj(100_000)]) {
      const r = await post(box, body, 'application/json')
      t.equal(r.status, 400)
      t.equal(r.body.status, -3)
      t.match(r.body.message, /nests deeper than 64 levels/)
    }
    // 64 levels is fine: the box's answer is about the field, not the depth
    const ok = await post(box, `{"cmd":"channelstatus","satellite":"${MAC}","status":${statusJson([1, 1])}}`, 'application/json')
    t.equal(ok.status, 200)
    t.equal(ok.body.status, 0)
  })

  await t.test('a deep status inside a form field: 400, -3', async (t) => {
    const r = await post(box, new URLSearchParams({ cmd: 'channelstatus', satellite: MAC, status: deep(20_000) }).toString(), 'application/x-www-form-urlencoded')
    t.equal(r.status, 400)
    t.equal(r.body.status, -3)
    t.match(r.body.message, /status nests deeper than 64 levels/)
  })

  await t.test('deep JSON on every API route that takes a body: 400 in our shape', async (t) => {
    const routes = ['/v1/calls', '/v1/calls/hangup', '/v1/agents/801/presence', `/v1/devices/${MAC12}/commands`, '/voip/api/jsondata.html']
    for (const p of routes) {
      for (const body of [deep(100_000), `{"memo":${deepObj(100_000)}}`]) {
        const r = await post(`${d.api}${p}`, body, 'application/json')
        t.equal(r.status, 400, p)
        t.equal(r.body.error?.code, 'BAD_REQUEST', p)
        t.match(r.body.error?.message, /nests deeper than 64 levels/, p)
      }
    }
    // a body exactly 64 deep (body, memo, a, then 61 arrays) is taken
    const r = await post(`${d.api}/v1/devices/${MAC12}/commands`, JSON.stringify({ type: 'dial', channel: 1, phone: '10086', memo: { a: JSON.parse(deep(61)) } }), 'application/json')
    t.equal(r.status, 202, `a body 64 levels deep: queued (${JSON.stringify(r.body)})`)
    // the local 800hu API's memo is a form field holding JSON
    const lp = await post(
      `${d.api}/voip/api/jsondata.html`,
      new URLSearchParams({ method: 'sendTelCall', sa_user: 'admin', sa_password: '8fe4c11451281c094a6578e6ddbf5eed', mac: MAC, phone: '10086', memo: deep(5000) }).toString(),
      'application/x-www-form-urlencoded',
    )
    t.equal(lp.status, 200)
    t.equal(lp.body.code, -3, 'local API: its own code table')
    t.match(lp.body.message, /memo nests deeper/)
  })

  await t.test(`a URL over ${MAX_URL_BYTES} bytes: 414 URI_TOO_LONG on both listeners`, async (t) => {
    for (const base of [d.api, d.ingest]) {
      for (const p of ['/v1/health?x=', '/voip/api/upload_record?x=', '/nowhere/']) {
        const r = await fetch(`${base}${p}${'a'.repeat(MAX_URL_BYTES)}`)
        t.equal(r.status, 414, `${base}${p}`)
        t.same(await r.json(), { error: { code: 'URI_TOO_LONG', message: 'request URL too long' } })
      }
      const ok = await fetch(`${base}/v1/health?x=${'a'.repeat(MAX_URL_BYTES - 20)}`)
      t.not(ok.status, 414, 'just under the bound: not 414')
      await ok.arrayBuffer()
    }
  })

  await t.test('a long path parameter routes (a 128-character callid); the URL bound is the only length bound', async (t) => {
    for (const n of [101, 128, 2000]) {
      const r = await fetch(`${d.api}/v1/recordings/${'a'.repeat(n)}`)
      t.equal(r.status, 404, `${n} characters`)
      t.equal((await r.json()).error.code, 'NOT_FOUND', `${n}: the route ran, in our shape`)
    }
  })

  await t.test('over the parser limit (16 KiB): 414 for a URL, 431 for headers, written whole in our shape', async (t) => {
    for (const base of [d.api, d.ingest]) {
      const u = parseResponse(await raw(base, `GET /v1/health?x=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`))
      t.equal(u.status, 414)
      t.same(u.body, { error: { code: 'URI_TOO_LONG', message: 'request URL too long' } })
      const h = parseResponse(await raw(base, `GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(40_000)}\r\n\r\n`))
      t.equal(h.status, 431)
      t.equal(h.headers['content-type'], 'application/json')
      t.equal(h.headers.connection, 'close')
      t.same(h.body, { error: { code: 'HEADERS_TOO_LARGE', message: 'request headers too large' } })
      const many = parseResponse(await raw(base, `POST /voip/api/upload_record HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 6000 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`))
      t.equal(many.status, 431, 'many small headers')
      const garbage = parseResponse(await raw(base, 'NOT HTTP AT ALL\r\n\r\n'))
      t.equal(garbage.status, 400)
      t.equal(garbage.body.error.code, 'BAD_REQUEST')
    }
  })

  await t.test('nothing of this was logged as an error', async (t) => {
    const errors = d.logs.filter((l) => l.level >= 50)
    t.same(
      errors.map((l) => l.msg),
      [],
      'no error-level line (no stack)',
    )
  })
})
