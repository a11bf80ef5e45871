import t from 'tap'
import type { Test } from 'tap'
import { request } from 'node:http'
import { unlink } from 'node:fs/promises'
import { join } from 'node:path'
import Fastify from 'fastify'
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { installJsonErrors } from '../daemon/core/http.js'
import { recordingRoutes } from '../daemon/core/recordings/routes.js'
import { SseReader } from './helpers/sse.js'
import { BOX, put, sha256, storeRig, tempDir, wav, type StoreRig } from './helpers/recordings.js'

/** The store's routes on a bare fastify, as the API listener has them (JSON errors). */
async function serve(t: Test, r: StoreRig): Promise<string> {
  const app = Fastify()
  installJsonErrors(app)
  recordingRoutes(r.store)(app)
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const addr = app.server.address() as { port: number }
  return `http://127.0.0.1:${addr.port}`
}

async function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Headers; body: Buffer; json: any }> {
  const res = await fetch(url, { headers, method })
  const body = Buffer.from(await res.arrayBuffer())
  let json: unknown
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, body, json }
}

t.test('audio with HTTP Range: whole, first bytes, suffix, open-ended, unsatisfiable', async (t) => {
  const r = await storeRig(t)
  const url = await serve(t, r)
  const data = wav(100_000)
  await put(r.store, '42', data)
  const a = `${url}/v1/recordings/42/audio`

  const whole = await get(a)
  t.equal(whole.status, 200)
  t.equal(whole.headers.get('content-type'), 'audio/wav')
  t.equal(whole.headers.get('content-length'), String(data.length))
  t.equal(whole.headers.get('accept-ranges'), 'bytes')
  t.equal(whole.headers.get('etag'), `"${sha256(data)}"`)
  t.match(whole.headers.get('content-disposition'), /filename="42\.wav"/)
  t.same(whole.body, data)

  const first = await get(a, { range: 'bytes=0-99' })
  t.equal(first.status, 206)
  t.equal(first.headers.get('content-range'), `bytes 0-99/${data.length}`)
  t.equal(first.headers.get('content-length'), '100')
  t.same(first.body, data.subarray(0, 100))

  const suffix = await get(a, { range: 'bytes=-500' })
  t.equal(suffix.status, 206)
  t.equal(suffix.headers.get('content-range'), `bytes ${data.length - 500}-${data.length - 1}/${data.length}`)
  t.same(suffix.body, data.subarray(data.length - 500))

  const open = await get(a, { range: 'bytes=99000-' })
  t.equal(open.status, 206)
  t.same(open.body, data.subarray(99000))

  const past = await get(a, { range: 'bytes=99990-200000' })
  t.equal(past.status, 206, 'an end past the file is cut to it')
  t.equal(past.headers.get('content-range'), `bytes 99990-99999/${data.length}`)
  t.same(past.body, data.subarray(99990))

  const bigSuffix = await get(a, { range: 'bytes=-999999' })
  t.equal(bigSuffix.status, 206)
  t.same(bigSuffix.body, data)

  for (const bad of [`bytes=${data.length}-`, 'bytes=200000-300000', 'bytes=-0']) {
    const u = await get(a, { range: bad })
    t.equal(u.status, 416, bad)
    t.equal(u.headers.get('content-range'), `bytes */${data.length}`)
    t.equal(u.json.error.code, 'RANGE_NOT_SATISFIABLE')
  }

  // ranges we answer with the whole file (allowed by RFC 9110): several, malformed, another unit
  for (const h of ['bytes=0-1,5-6', 'bytes=abc', 'items=0-1', 'bytes=10-5']) {
    const w = await get(a, { range: h })
    t.equal(w.status, 200, h)
    t.equal(w.body.length, data.length)
  }

  // If-Range with another ETag: the whole (new) file; with ours: the range
  t.equal((await get(a, { range: 'bytes=0-9', 'if-range': '"other"' })).status, 200)
  t.equal((await get(a, { range: 'bytes=0-9', 'if-range': `"${sha256(data)}"` })).status, 206)
  t.equal((await get(a, { 'if-none-match': `"${sha256(data)}"` })).status, 304)

  // HEAD: headers, no body, the file is not read
  const head = await get(a, {}, 'HEAD')
  t.equal(head.status, 200)
  t.equal(head.headers.get('content-length'), String(data.length))
  t.equal(head.body.length, 0)
})

t.test('content types by extension; missing audio is a 404', async (t) => {
  const r = await storeRig(t)
  const url = await serve(t, r)
  await put(r.store, 'mp', Buffer.from('ID3' + 'x'.repeat(100)), { ext: 'mp3' })
  await put(r.store, 'am', Buffer.from('#!AMR\n' + 'x'.repeat(100)), { ext: 'amr' })
  await put(r.store, 'empty', Buffer.alloc(0), { ext: 'wav' })
  t.equal((await get(`${url}/v1/recordings/mp/audio`)).headers.get('content-type'), 'audio/mpeg')
  t.equal((await get(`${url}/v1/recordings/am/audio`)).headers.get('content-type'), 'audio/amr')
  const empty = await get(`${url}/v1/recordings/empty/audio`)
  t.equal(empty.status, 200)
  t.equal(empty.headers.get('content-length'), '0')
  t.equal((await get(`${url}/v1/recordings/empty/audio`, { range: 'bytes=0-' })).status, 416)
  const none = await get(`${url}/v1/recordings/nope/audio`)
  t.equal(none.status, 404)
  t.equal(none.json.error.code, 'NOT_FOUND')
  await unlink(join(r.store.root, r.store.get('mp')!.file))
  const gone = await get(`${url}/v1/recordings/mp/audio`)
  t.equal(gone.status, 404)
  t.match(gone.json.error.message, /audio of recording mp/)
})

t.test('GET /v1/recordings: filters and paging', async (t) => {
  const r = await storeRig(t)
  const url = await serve(t, r)
  const base = Date.UTC(2024, 4, 1, 0, 0, 0)
  const other = '0000000000bb'
  // 20 calls an hour apart: boxes alternate, channels 1-4, directions in/out/unkown
  for (let i = 0; i < 20; i++) {
    await put(r.store, `f${String(i).padStart(2, '0')}`, wav(100 + i), {
      box: i % 2 ? other : BOX,
      fields: {
        channel: String((i % 4) + 1),
        direction: ['in', 'out', 'unkown'][i % 3]!,
        callid_dialed: i < 10 ? `1380013800${i}` : `0108888777${i % 10}`,
        start_time_secs: String((base + i * 3600_000) / 1000),
      },
    })
  }
  const list = async (q: string) => (await get(`${url}/v1/recordings${q}`)).json
  const all = await list('?limit=100')
  t.equal(all.total, 20)
  t.same(
    all.recordings.map((x: any) => x.id),
    Array.from({ length: 20 }, (_, i) => `f${String(19 - i).padStart(2, '0')}`),
    'newest first',
  )
  t.equal(all.recordings[0].audioUrl, '/v1/recordings/f19/audio')
  t.same(
    (await list('?order=asc&limit=3')).recordings.map((x: any) => x.id),
    ['f00', 'f01', 'f02'],
  )

  const p1 = await list('?limit=7')
  const p2 = await list('?limit=7&offset=7')
  const p3 = await list('?limit=7&offset=14')
  t.same([p1.total, p2.total, p3.total], [20, 20, 20])
  t.same([p1.recordings.length, p2.recordings.length, p3.recordings.length], [7, 7, 6])
  t.same(
    [...p1.recordings, ...p2.recordings, ...p3.recordings].map((x: any) => x.id),
    all.recordings.map((x: any) => x.id),
    'pages add up',
  )
  t.same((await list('?offset=50')).recordings, [])
  t.equal((await list('')).limit, 50, 'default page size')

  t.equal((await list('?box=00:00:00:00:00:BB')).total, 10, 'box in any MAC spelling')
  t.equal((await list('?box=00-00-00-00-00-0a&channel=1')).total, 5)
  t.equal((await list('?channel=2')).total, 5)
  t.equal((await list('?direction=missed')).total, 6)
  t.equal((await list('?direction=inbound')).total, 7)
  t.equal((await list('?phone=13800138')).total, 10, 'phone: a part of the number')
  t.equal((await list('?phone=01088887773')).total, 1)
  t.equal((await list(`?from=${base + 5 * 3600_000}&to=${base + 8 * 3600_000}`)).total, 3, 'from inclusive, to exclusive (epoch ms)')
  t.equal((await list('?from=2024-05-01T05:00:00Z&to=2024-05-01T08:00:00Z')).total, 3, 'ISO times')
  t.equal((await list('?from=2024-05-01T13:00:00%2B08:00')).total, 15, 'with an offset')
  t.equal((await list('?callid=f03')).total, 1)
  t.equal((await list('?box=0000000000bb&direction=outbound&phone=138')).total, 2)

  for (const [q, param] of [
    ['?box=zz', 'box'],
    ['?channel=x', 'channel'],
    ['?channel=-1', 'channel'],
    ['?direction=sideways', 'direction'],
    ['?from=yesterday', 'from'],
    ['?to=2024-02-30', 'to'],
    ['?from=2024-05-02&to=2024-05-01', 'to'],
    ['?limit=0', 'limit'],
    ['?limit=1001', 'limit'],
    ['?offset=-3', 'offset'],
    ['?order=up', 'order'],
    ['?callid=../x', 'callid'],
    ['?channel=1&channel=2', 'channel'],
    [`?phone=${'1'.repeat(65)}`, 'phone'],
  ] as const) {
    const res = await get(`${url}/v1/recordings${q}`)
    t.equal(res.status, 400, q)
    t.equal(res.json.error.code, 'BAD_QUERY')
    t.match(res.json.error.message, new RegExp(`invalid query parameter ${param}:`), q)
  }
})

t.test('GET /v1/recordings/:callid', async (t) => {
  const r = await storeRig(t)
  const url = await serve(t, r)
  const a = await put(r.store, '7687658987667780097', wav(300))
  const b = await put(r.store, '7687658987667780097', wav(301))
  const one = await get(`${url}/v1/recordings/7687658987667780097`)
  t.equal(one.status, 200)
  t.same({ ...one.json, audioUrl: undefined }, { ...a.record, audioUrl: undefined })
  t.equal(one.json.audioUrl, '/v1/recordings/7687658987667780097/audio')
  const two = await get(`${url}/v1/recordings/7687658987667780097~2`)
  t.equal(two.json.sha256, b.record.sha256)
  t.equal((await get(`${url}/v1/recordings/7687658987667780097~2/audio`)).body.length, 301)
  const none = await get(`${url}/v1/recordings/..%2f..%2fetc`)
  t.equal(none.status, 404)
  t.equal(none.json.error.code, 'NOT_FOUND')
})

t.test('in the daemon: behind the bearer token, and a recording event on the stream', async (t) => {
  const dataDir = await tempDir(t)
  const token = 'recordings-test-token-0123456789'
  const d = new Daemon(parseConfig({ api: { port: 0, token }, dataDir, recordings: {} }), { log: pino({ level: process.env.TB_TEST_LOG ?? 'silent' }) })
  const { apiUrl } = await d.start()
  t.teardown(() => d.stop())
  const auth = { authorization: `Bearer ${token}` }
  t.equal((await get(`${apiUrl}/v1/recordings`)).status, 401)
  const sse = await SseReader.open(`${apiUrl}/v1/events`, auth)
  t.teardown(() => sse.close())
  const data = wav(4000)
  await put(d.recordings, 'd1', data)
  const ev = await sse.next((e) => e.event === 'recording')
  t.match(ev.data, { id: 'd1', callid: 'd1', box: BOX, sha256: sha256(data), outcome: 'stored' })
  const list = await get(`${apiUrl}/v1/recordings`, auth)
  t.equal(list.json.total, 1)
  // a browser's <audio> cannot send headers: the token in the query
  const audio = await get(`${apiUrl}/v1/recordings/d1/audio?access_token=${token}`, { range: 'bytes=0-3' })
  t.equal(audio.status, 206)
  t.equal(audio.body.toString('latin1'), 'RIFF')
  t.match(await (await fetch(`${apiUrl}/metrics`, { headers: auth })).text(), /telbridge_recordings_indexed 1/)
})

t.test('a client that goes away mid-download does not disturb the server', async (t) => {
  const r = await storeRig(t)
  const url = await serve(t, r)
  await put(r.store, 'big', wav(8 * 1024 * 1024))
  await new Promise<void>((resolve) => {
    const req = request(`${url}/v1/recordings/big/audio`, (res) => {
      res.once('data', () => {
        req.destroy()
        resolve()
      })
    })
    req.end()
  })
  const again = await get(`${url}/v1/recordings/big/audio`, { range: 'bytes=0-9' })
  t.equal(again.status, 206)
})
