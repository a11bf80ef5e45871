import t from 'tap'
import { connect } from 'node:net'
import { rig } from './helpers/daemon.js'
import { SseReader, getJson, until } from './helpers/sse.js'

const pop = (n: number) => `H=t1v3,ch=${n},ph=1390000${String(n).padStart(4, '0')},id=${n},tm=081123101500,op=801,sn=${n},dm=0;`

t.test('Last-Event-ID replays exactly the missed events', async (t) => {
  const r = await rig()
  t.teardown(() => r.stop())
  const a = await SseReader.open(`${r.url}/v1/events`)
  r.sim.sendPop(pop(1))
  r.sim.sendPop(pop(2))
  await a.count('pop', 2)
  const lastSeen = a.events.at(-1)!.id!
  a.close()
  // missed while disconnected
  for (let i = 3; i <= 7; i++) r.sim.sendPop(pop(i))
  await until(() => r.daemon.pops.list({ limit: 100 }).length === 7, 3000)
  const expected = r.daemon.bus.since(Number(lastSeen)).events.map((e) => e.id)
  const b = await SseReader.open(`${r.url}/v1/events`, { 'last-event-id': lastSeen })
  t.teardown(() => b.close())
  await b.count('pop', 5)
  t.same(
    b.events.map((e) => Number(e.id)),
    expected,
    'the missed events, each once, in order',
  )
  t.same(
    b.events.filter((e) => e.event === 'pop').map((e) => (e.data as any).pop.channel),
    [3, 4, 5, 6, 7],
  )
  // live events continue after the replay without a gap or a repeat
  r.sim.sendPop(pop(8))
  await b.count('pop', 6)
  const ids = b.events.map((e) => Number(e.id))
  t.same(
    ids,
    [...new Set(ids)].sort((x, y) => x - y),
  )
  // ?since= does the same as the header
  const c = await SseReader.open(`${r.url}/v1/events?since=${lastSeen}`)
  t.teardown(() => c.close())
  await c.count('pop', 6)
  t.same(
    c.events.slice(0, expected.length).map((e) => Number(e.id)),
    expected,
  )
})

t.test('a position that fell out of the buffer gets a reset event first', async (t) => {
  const r = await rig({ config: { api: { eventBuffer: 100 } } })
  t.teardown(() => r.stop())
  const first = r.daemon.bus.lastId
  for (let i = 0; i < 150; i++) r.sim.sendPop(pop(i % 50))
  await until(() => r.daemon.bus.lastId - first >= 150, 5000, '150 events')
  const s = await SseReader.open(`${r.url}/v1/events`, { 'last-event-id': String(first) })
  t.teardown(() => s.close())
  const reset = await s.next(() => true)
  t.equal(reset.event, 'reset')
  t.match(reset.data, { reason: /fell out/, requested: first, oldest: Number, latest: Number })
  t.equal(Number(reset.id), (reset.data as any).latest)
  // an id from before a restart (in the future for this run) is a reset too
  const f = await SseReader.open(`${r.url}/v1/events?since=${r.daemon.bus.lastId + 1000}`)
  t.teardown(() => f.close())
  t.match((await f.next(() => true)).data, { reason: /restarted/ })
  const bad = await getJson(`${r.url}/v1/events?since=abc`)
  t.equal(bad.status, 400)
  t.equal(bad.body.error.code, 'BAD_QUERY')
})

t.test('a slow client is cut off; the daemon and other clients carry on', async (t) => {
  const r = await rig({ config: { api: { sseMaxBacklogBytes: 65536 } } })
  t.teardown(() => r.stop())
  const fast = await SseReader.open(`${r.url}/v1/events`)
  t.teardown(() => fast.close())
  // a client that sends its request and never reads
  const url = new URL(r.url)
  const slow = connect(Number(url.port), url.hostname)
  await new Promise<void>((res) => slow.once('connect', () => res()))
  slow.write(`GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n`)
  slow.pause()
  let closed = false
  slow.on('close', () => (closed = true))
  await until(() => r.daemon.bus.subscriberCount === 2, 2000, 'two subscribers')
  // big pops, in batches, until the kernel buffers and the backlog limit are full
  const big = (n: number) => {
    const head = `H=t1v5,ch=${n % 100},ph=139${String(n).padStart(8, '0')},ty=1,tm=081123101500,op=801,sn=${n},so=0,mb=0,da=k:`
    return head + 'v'.repeat(250 - head.length - 6) + ',dm=0;'
  }
  let sent = 0
  while (r.daemon.bus.subscriberCount === 2 && sent < 200_000) {
    for (let i = 0; i < 200; i++) r.sim.sendPop(big(sent++))
    await new Promise((res) => setTimeout(res, 2))
  }
  t.equal(r.daemon.bus.subscriberCount, 1, `slow client dropped after ${sent} pops`)
  for (let i = 0; i < 100; i++) r.sim.sendPop(big(sent++))
  await fast.count('pop', sent, 20000)
  slow.resume()
  await until(() => closed, 5000, 'slow socket closed')
  const m = await (await fetch(`${r.url}/metrics`)).text()
  t.match(m, /telbridge_sse_dropped_total 1/)
  t.equal(fast.events.filter((e) => e.event === 'pop').length, sent, 'the fast client got every pop')
  t.notOk(fast.closed, 'the fast client is still connected')
})

t.test('errors are JSON with a code; unknown routes, bad queries, unknown ids', async (t) => {
  const r = await rig()
  t.teardown(() => r.stop())
  const cases: [string, number, string][] = [
    ['/v1/nope', 404, 'ROUTE_NOT_FOUND'],
    ['/v1/channels/zz:1', 404, 'NOT_FOUND'],
    ['/v1/sources/zz', 404, 'NOT_FOUND'],
    ['/v1/channels?state=dancing', 400, 'BAD_QUERY'],
    ['/v1/pops?limit=0', 400, 'BAD_QUERY'],
    ['/v1/pops?limit=abc', 400, 'BAD_QUERY'],
    ['/v1/pops?limit=99999999', 400, 'BAD_QUERY'],
  ]
  for (const [path, status, code] of cases) {
    const res = await getJson(r.url + path)
    t.equal(res.status, status, path)
    t.equal(res.body.error.code, code, path)
    t.type(res.body.error.message, 'string')
  }
  const h = await getJson(`${r.url}/v1/health`)
  t.match(h.body, { status: 'ok', sources: { total: 1, connected: 1 } })
  const m = await fetch(`${r.url}/metrics`)
  t.match(m.headers.get('content-type'), /text\/plain; version=0\.0\.4/)
  const text = await m.text()
  for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
    t.match(line, /^[a-z_][a-z0-9_]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (-?[0-9.e+]+|NaN)$/, 'prometheus sample line')
  }
  // issue 12 item 10: status left the labels of telbridge_source_up (a changing label churns series)
  t.match(text, /telbridge_source_up\{source="lq1",type="lq-socket"\} 1/)
  t.match(text, /telbridge_source_status\{source="lq1",status="connected"\} 1/)
  t.match(text, /telbridge_source_status\{source="lq1",status="down"\} 0/)
  t.match(text, /telbridge_source_connect_failures_total\{source="lq1"\} 0/)
  t.match(text, /process_resident_memory_bytes \d+/)
  t.match(text, /nodejs_heap_size_used_bytes \d+/)
  t.match(text, /telbridge_build_info\{version="[^"]+",node="v\d+[^"]*"\} 1/)
  t.match(text, /# TYPE telbridge_events_published_total counter/)
  t.match(text, /telbridge_http_request_duration_seconds_bucket\{le="[0-9.]+",method="GET",route="\/v1\/health",code="200"\} [1-9]\d*/)
  const page = await fetch(`${r.url}/`)
  t.match(page.headers.get('content-type'), /text\/html/)
  t.match(await page.text(), /<title>telbridge/)
})

t.test('api.token: every route but health needs the bearer token', async (t) => {
  const token = 'k'.repeat(20) + 'secret'
  const r = await rig({ config: { api: { token } } })
  t.teardown(() => r.stop())
  t.equal((await getJson(`${r.url}/v1/health`)).status, 200)
  for (const p of ['/v1/channels', '/v1/sources', '/v1/pops', '/metrics', '/', '/v1/events']) {
    const res = await getJson(r.url + p)
    t.equal(res.status, 401, p)
    t.equal(res.body.error.code, 'UNAUTHORIZED')
    t.equal((await getJson(r.url + p, { authorization: 'Bearer wrong' })).status, 401)
  }
  t.equal((await getJson(`${r.url}/v1/channels`, { authorization: `Bearer ${token}` })).status, 200)
  const s = await SseReader.open(`${r.url}/v1/events?access_token=${token}`)
  t.teardown(() => s.close())
  t.equal(s.status, 200, 'EventSource-style token in the query')
})

t.test('many clients that never read cost no more than one batch each, and stop stays quick', async (t) => {
  const r = await rig({ config: { api: { sseMaxBacklogBytes: 1 << 20 } } })
  let stopped = false
  t.teardown(() => (stopped ? undefined : r.stop()))
  const url = new URL(r.url)
  const socks = await Promise.all(
    Array.from({ length: 30 }, async () => {
      const s = connect(Number(url.port), url.hostname)
      await new Promise<void>((res) => s.once('connect', () => res()))
      s.write(`GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n`)
      s.pause()
      s.on('error', () => {})
      return s
    }),
  )
  t.teardown(() => socks.forEach((s) => s.destroy()))
  await until(() => r.daemon.bus.subscriberCount === 30, 3000, '30 subscribers')
  const text = (n: number) => `H=t1v5,ch=${n % 50},ph=139${String(n).padStart(8, '0')},ty=1,tm=081123101500,op=801,sn=${n},so=0,mb=0,da=城市:南京|k:${'v'.repeat(120)},dm=0;`
  for (let sent = 0; sent < 12000;) {
    for (let i = 0; i < 300; i++) r.sim.sendPop(text(sent++))
    await new Promise((res) => setTimeout(res, 2))
  }
  await until(() => r.daemon.pops.list({ limit: 1 })[0]?.pop.serial === '11999', 10000, 'all pops in')
  const t0 = Date.now()
  const h = await getJson(`${r.url}/v1/health`)
  t.equal(h.status, 200)
  t.ok(Date.now() - t0 < 1000, 'the API still answers promptly')
  t.equal(r.daemon.bus.subscriberCount, 0, 'every non-reading client was cut off')
  const t1 = Date.now()
  await r.stop()
  stopped = true
  t.ok(Date.now() - t1 < 2000, `stopped in ${Date.now() - t1} ms`)
})
