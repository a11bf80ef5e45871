import t from 'tap'
import iconv from 'iconv-lite'
import { encodePop, TRY_REQ } from '../protocols/lq-connect/index.js'
import { rig } from './helpers/daemon.js'
import { SseReader, getJson, until } from './helpers/sse.js'

t.test('every pop reaches an SSE client with all fields right', async (t) => {
  const r = await rig()
  t.teardown(() => r.stop())
  const sse = await SseReader.open(`${r.url}/v1/events`)
  t.teardown(() => sse.close())
  await until(() => sse.events.length >= 0 && sse.res, 1000)
  const pops = [
    '2,02586307627,1000,1208674344953,NA',
    'H=t1v2,ch=2,ph=86307627,id=12157703713752,tm=080711175931,dm=0;',
    'H=t1v3,ch=2,ph=86307627,id=12157703713752,tm=080711175931,op=801,sn=1234,dm=0;',
    'H=t1v4,ch=2,ph=86307627,ty=1,tm=080711175931,op=801,sn=1234,so=802,dm=0;',
    'H=t1v4,ch=2,ph=86307627,ty=1,tm=080711175931,op=801,sn=1234,so=802,da=0,dm=0;',
    'H=t1v5,ch=7,ph=13912345678,ty=2,tm=081123101500,op=801,sn=99,so=0,mb=2001,da=城市:南京|会员等级:金卡,dm=1;2;',
  ]
  for (const p of pops) r.sim.sendPop(p)
  const got = await sse.count('pop', pops.length)
  t.same(
    got.map((e) => (e.data as any).pop.raw),
    pops,
    'all pops, in order, raw text intact',
  )
  t.same(
    got.map((e) => (e.data as any).eventId),
    got.map((e) => Number(e.id)),
    'a pop record carries its own event id',
  )
  const last = got[5]!.data as any
  t.equal(last.source, 'lq1')
  t.equal(last.channelId, 'lq1:7')
  t.match(last.pop, {
    format: 't1v5',
    channel: 7,
    phone: '13912345678',
    agent: '801',
    serial: '99',
    kind: 'manual-outbound',
    direction: 'outbound',
    member: '2001',
    data: { 城市: '南京', 会员等级: '金卡' },
    dtmf: ['1', '2'],
    time: '2008-11-23T10:15:00+08:00',
  })
  t.equal((got[0]!.data as any).pop.callId, '12086743449532', 't1v1 call id is startTime + ch')
  t.equal((got[0]!.data as any).pop.time, '2008-04-20T14:52:24.953+08:00')
  t.equal((got[4]!.data as any).pop.format, 't1v5', "the vendor's t1v5 example tagged t1v4 is t1v5")
  const ch = await sse.next((e) => e.event === 'channel' && (e.data as any).id === 'lq1:7')
  t.match(ch.data, { state: 'dialing', phone: '13912345678', direction: 'outbound', agent: '801' })
  const ids = sse.events.map((e) => Number(e.id))
  t.same(
    [...ids].sort((a, b) => a - b),
    ids,
    'event ids increase',
  )
  const table = await getJson(`${r.url}/v1/channels?source=lq1&state=ringing`)
  t.same(
    table.body.channels.map((c: any) => c.id),
    ['lq1:2'],
  )
  const one = await getJson(`${r.url}/v1/channels/lq1:7`)
  t.equal(one.body.state, 'dialing')
  const recent = await getJson(`${r.url}/v1/pops?limit=2`)
  t.same(
    recent.body.pops.map((p: any) => p.pop.channel),
    [7, 2],
    'newest first',
  )
})

t.test('TRY_REQ is answered with TRY_REP', async (t) => {
  const r = await rig({ sim: { trySeconds: 0.05 } })
  t.teardown(() => r.stop())
  const client = [...r.sim.clients][0]!
  await until(() => client.tryReps >= 3, 3000, 'three TRY_REPs')
  t.ok(client.tryReps >= 3)
  t.equal(client.registration, 'oper=801,ch=-1;', 'default registration frame')
  t.equal(client.agent, '801')
})

t.test('garbage, a zero length, a truncated frame, invalid GBK and a 255-byte pop lose no following pop', async (t) => {
  const r = await rig()
  t.teardown(() => r.stop())
  const sse = await SseReader.open(`${r.url}/v1/events`)
  t.teardown(() => sse.close())
  const good = (n: number) => `H=t1v3,ch=${n},ph=1380000000${n},id=${n},tm=081123101500,op=801,sn=${n},dm=0;`
  r.sim.broadcast(Buffer.from([0xff, 0x00, 0x13, 0x37, 0x01, 0x02]))
  r.sim.sendPop(good(1))
  r.sim.broadcast(Buffer.from([0x00]))
  r.sim.sendPop(good(2))
  // invalid GBK inside a pop: delivered, with U+FFFD where the bytes were
  const bad = Buffer.concat([Buffer.from('H=t1v5,ch=3,ph=13800000003,ty=1,tm=081123101500,op=801,sn=3,so=0,mb=0,da=x:'), Buffer.from([0x81, 0x20]), Buffer.from(',dm=0;')])
  r.sim.broadcast(encodePop(bad))
  // a 255-byte pop
  const base = 'H=t1v5,ch=4,ph=13800000004,ty=1,tm=081123101500,op=801,sn=4,so=0,mb=0,da=k:'
  const long = base + 'v'.repeat(255 - base.length - ',dm=0;'.length) + ',dm=0;'
  t.equal(Buffer.byteLength(long), 255)
  r.sim.sendPop(long)
  // a pop that is not a pop at all: pop.invalid, connection kept
  r.sim.sendPop('H=t9v9,ch=1;')
  r.sim.sendPop(good(5))
  // a truncated frame at the end: waits, then the server drops the link — the next connection works
  const got = await sse.count('pop', 5)
  t.same(
    got.map((e) => (e.data as any).pop.channel),
    [1, 2, 3, 4, 5],
  )
  t.match((got[2]!.data as any).pop.data, { x: /\uFFFD/ })
  t.equal((got[3]!.data as any).pop.raw, long)
  const inv = await sse.next((e) => e.event === 'pop.invalid')
  t.match(inv.data, { source: 'lq1', code: 'UNKNOWN_FORMAT', raw: 'H=t9v9,ch=1;' })
  const metrics = await (await fetch(`${r.url}/metrics`)).text()
  t.match(metrics, /telbridge_pops_invalid_total\{source="lq1",code="UNKNOWN_FORMAT"\} 1/)
  t.match(metrics, /telbridge_frames_invalid_total\{source="lq1",code="[A-Z_]+"\} \d+/)
  t.equal(r.daemon.sources.get('lq1')!.status, 'connected', 'still the same connection')
  const frame = encodePop(good(6))
  r.sim.broadcast(frame.subarray(0, 10))
  await new Promise((res) => setTimeout(res, 50))
  r.sim.broadcast(frame.subarray(10))
  await sse.count('pop', 6)
})

t.test('the daemon reconnects after the server restarts, and says so', async (t) => {
  const r = await rig()
  t.teardown(() => r.stop())
  const sse = await SseReader.open(`${r.url}/v1/events`)
  t.teardown(() => sse.close())
  const port = r.sim.port
  r.sim.sendPop('H=t1v2,ch=1,ph=1,id=1,tm=081123101500,dm=0;')
  await sse.count('pop', 1)
  await r.sim.stop()
  await sse.next((e) => e.event === 'source' && ['reconnecting', 'failed'].includes((e.data as any).status))
  const { LqSimulator } = await import('../daemon/vendors/lq-socket/simulator.js')
  const sim2 = new LqSimulator({ port, rate: 0, trySeconds: 0.05 })
  await sim2.start()
  t.teardown(() => sim2.stop())
  await until(() => [...sim2.clients].some((c) => c.registration), 5000, 'reconnect')
  await until(() => r.daemon.sources.get('lq1')!.status === 'connected', 2000, 'connected')
  sim2.sendPop('H=t1v2,ch=2,ph=2,id=2,tm=081123101500,dm=0;')
  await sse.count('pop', 2)
  const statuses = sse.events.filter((e) => e.event === 'source').map((e) => (e.data as any).status)
  t.equal(statuses.at(-1), 'connected')
  const src = (await getJson(`${r.url}/v1/sources`)).body.sources[0]
  t.match(src, { id: 'lq1', status: 'connected', ocxCode: 7, failures: 0 })
})

t.test('a silent server is detected within expireSeconds', async (t) => {
  const r = await rig({ source: { expireSeconds: 0.3, reconnectSeconds: 5 } })
  t.teardown(() => r.stop())
  r.sim.silent = true
  const started = Date.now()
  await until(() => r.daemon.sources.get('lq1')!.status !== 'connected', 2000, 'link declared dead')
  const took = Date.now() - started
  t.ok(took < 1000, `declared dead after ${took} ms (expire 300 ms)`)
  t.match(r.daemon.sources.get('lq1')!.info().lastError, /no data from the server for 0.3s/)
})

t.test('a dead address fails fast, backs off, and reports failed with OCX code 9', async (t) => {
  const { LqSocketSource } = await import('../daemon/vendors/lq-socket/source.js')
  const { parseConfig } = await import('../daemon/config.js')
  const { Daemon } = await import('../daemon/daemon.js')
  const { pino } = await import('pino')
  const { createServer } = await import('node:net')
  // a port nobody listens on
  const srv = createServer()
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', () => res()))
  const port = (srv.address() as any).port
  await new Promise<void>((res) => srv.close(() => res()))
  const cfg = parseConfig({ api: { port: 0 }, sources: [{ id: 'dead', type: 'lq-socket', host: '127.0.0.1', port, oper: '801', failAfter: 2 }] })
  const d = new Daemon(cfg, { log: pino({ level: 'silent' }) })
  const delays: number[] = []
  const src = new LqSocketSource(cfg.sources[0]!, (d as any).sources.get('dead').ctx, {
    strategy: (attempt) => {
      delays.push(attempt)
      return 5
    },
  })
  src.start()
  await until(() => src.status === 'failed', 2000, 'failed')
  t.equal(src.info().ocxCode, 9)
  t.match(src.info().lastError, /ECONNREFUSED/)
  await until(() => delays.length >= 4, 2000)
  t.same(delays.slice(0, 4), [1, 2, 3, 4], 'attempt count grows while nothing works')
  await src.stop()
  t.equal(src.status, 'stopped')
})

t.test('one failing source does not affect another', async (t) => {
  const r = await rig({ agents: ['801', '802'] })
  t.teardown(() => r.stop())
  // kill only lq2's connection repeatedly
  const victim = [...r.sim.clients].find((c) => c.agent === '802')!
  victim.socket.destroy()
  r.sim.sendPop('H=t1v3,ch=1,ph=1,id=1,tm=081123101500,op=801,sn=1,dm=0;', '801')
  await until(() => r.daemon.pops.list({ limit: 10, source: 'lq1' }).length === 1, 2000)
  t.equal(r.daemon.sources.get('lq1')!.status, 'connected')
})

t.test('garbage in a TRY_REQ position is skipped', async (t) => {
  const r = await rig()
  t.teardown(() => r.stop())
  r.sim.broadcast(Buffer.concat([TRY_REQ.subarray(0, 4), Buffer.from('X'), encodePop('H=t1v2,ch=9,ph=9,id=9,tm=081123101500,dm=0;')]))
  await until(() => r.daemon.pops.list({ limit: 1 }).length === 1, 2000, 'pop after a broken TRY_REQ')
  t.equal(r.daemon.pops.list({ limit: 1 })[0]!.pop.channel, 9)
  t.equal(iconv.decode(encodePop('测试').subarray(1), 'gbk'), '测试')
})

t.test('the backoff starts again after a connection that worked', async (t) => {
  const { LqSocketSource } = await import('../daemon/vendors/lq-socket/source.js')
  const { LqSimulator } = await import('../daemon/vendors/lq-socket/simulator.js')
  const r = await rig()
  t.teardown(() => r.stop())
  const attempts: number[] = []
  const cfg = { ...r.daemon.config.sources[0]!, id: 'spy' }
  const src = new LqSocketSource(cfg, (r.daemon.sources.get('lq1') as any).ctx, {
    strategy: (attempt) => {
      attempts.push(attempt)
      return 20
    },
  })
  src.start()
  t.teardown(() => src.stop())
  await until(() => src.status === 'connected', 2000)
  const port = r.sim.port
  r.sim.broadcast(Buffer.from('TRY_REQ')) // a frame: this connection worked
  await until(() => (src.info().detail as any).framesIn > 0, 2000)
  await r.sim.stop() // kills the links and the listener
  await until(() => attempts.length >= 3, 3000, 'three attempts')
  t.same(attempts.slice(0, 3), [0, 1, 2], 'first delay after a working link is the shortest, then it grows')
  const sim2 = new LqSimulator({ port, rate: 0, trySeconds: 0.02 })
  await sim2.start()
  t.teardown(() => sim2.stop())
  await until(() => src.status === 'connected' && (src.info().detail as any).framesIn > 0, 3000, 'reconnected and worked')
  const before = attempts.length
  for (const c of sim2.clients) c.socket.destroy()
  await until(() => attempts.length > before, 2000)
  t.equal(attempts[before], 0, 'reset to the first step')
})

t.test('a crash in a connection handler is contained: logged, that link restarts, the daemon lives', async (t) => {
  const r = await rig({ agents: ['801', '802'] })
  t.teardown(() => r.stop())
  // a bug somewhere downstream of one pop (here: a table listener that throws)
  const off = r.daemon.table.onChange((c) => {
    if (c.entry.phone === '66666666') throw new Error('simulated handler bug')
  })
  t.teardown(off)
  const before = [...r.sim.clients].find((c) => c.agent === '801')!
  r.sim.sendPop('H=t1v3,ch=1,ph=66666666,id=1,tm=081123101500,op=801,sn=1,dm=0;', '801')
  await until(() => before.socket.destroyed, 3000, 'the failing link was dropped')
  await until(() => [...r.sim.clients].filter((c) => c.agent === '801').length === 1 && r.daemon.sources.get('lq1')!.status === 'connected', 5000, 'lq1 reconnected')
  r.sim.sendPop('H=t1v3,ch=2,ph=2,id=2,tm=081123101500,op=802,sn=2,dm=0;', '802')
  await until(() => r.daemon.pops.list({ limit: 5, source: 'lq2' }).length === 1, 2000, 'the other source unaffected')
  t.equal((await getJson(`${r.url}/v1/health`)).status, 200)
})

t.test('issue 11: a length byte that counts a trailing CRLF/NUL is a pop; skipped bytes are a frame.invalid event', async (t) => {
  const r = await rig()
  t.teardown(() => r.stop())
  const sse = await SseReader.open(`${r.url}/v1/events`)
  t.teardown(() => sse.close())
  const text = (n: number) => `H=t1v3,ch=${n},ph=1380000000${n},id=${n},tm=081123101500,op=801,sn=${n},dm=0;`
  const framed = (body: Buffer) => Buffer.concat([Buffer.of(body.length), body])
  r.sim.broadcast(framed(Buffer.from(text(1) + '\r\n')))
  r.sim.broadcast(framed(Buffer.from(text(2) + '\0')))
  const got = await sse.count('pop', 2)
  t.same(
    got.map((e) => (e.data as any).pop.raw),
    [text(1), text(2)],
    'the pops, terminators stripped',
  )
  // garbage: one frame.invalid event for the chunk, its bytes in hex
  // (ending in 0x00: any other last byte would wait as a length byte)
  r.sim.broadcast(Buffer.from([0xff, 0x13, 0x37, 0x01, 0x02, 0x00]))
  const inv = await sse.next((e) => e.event === 'frame.invalid')
  t.match(inv.data, { source: 'lq1', skipped: 6, hex: 'ff1337010200', truncated: false, codes: { ZERO_LENGTH: 1, IMPLAUSIBLE_FRAME: 5 }, suppressed: { events: 0, bytes: 0 } })
  t.type((inv.data as any).offset, 'number')
  // a long run: the hex is bounded to 64 bytes
  r.sim.broadcast(Buffer.concat([Buffer.alloc(299, 0x01), Buffer.of(0)]))
  const inv2 = await sse.next((e) => e.event === 'frame.invalid' && (e.data as any).skipped > 6)
  t.match(inv2.data, { skipped: 300, hex: '01'.repeat(64), truncated: true })
  r.sim.sendPop(text(3))
  await sse.count('pop', 3)
  t.equal(r.daemon.sources.get('lq1')!.status, 'connected', 'still the same connection')
})

t.test('FrameSkipReporter: at most 10 events a second (the rest counted in the next), one warning a minute', async (t) => {
  const { FrameSkipReporter } = await import('../daemon/vendors/lq-socket/skips.js')
  const { FrameError } = await import('../protocols/lq-connect/index.js')
  const { EventBus } = await import('../daemon/core/events.js')
  const { pino } = await import('pino')
  const lines: any[] = []
  const log = pino({ level: 'warn' }, { write: (s: string) => lines.push(JSON.parse(s)) })
  const bus = new EventBus(100)
  const events: any[] = []
  bus.subscribe((e) => {
    if (e.type === 'frame.invalid') events.push(e.data)
  })
  let now = 1_000_000
  const rep = new FrameSkipReporter('lq1', bus, log, () => now)
  rep.flush()
  t.equal(events.length, 0, 'nothing skipped, nothing published')
  for (let i = 0; i < 15; i++) {
    rep.add(new FrameError('IMPLAUSIBLE_FRAME', Buffer.of(0x40, i), i * 2))
    rep.flush()
  }
  t.equal(events.length, 10, '10 in the first second')
  t.equal(lines.length, 1, 'one warning')
  t.match(lines[0], { level: 40, source: 'lq1', skipped: 2, hex: '4000' })
  now += 1000
  rep.add(new FrameError('ZERO_LENGTH', Buffer.of(0), 30))
  rep.flush()
  t.equal(events.length, 11)
  t.match(events[10], { skipped: 1, codes: { ZERO_LENGTH: 1 }, suppressed: { events: 5, bytes: 10 } })
  t.equal(lines.length, 1, 'still one warning within the minute')
  now += 60_000
  rep.add(new FrameError('ZERO_LENGTH', Buffer.of(0), 31))
  rep.flush()
  t.equal(lines.length, 2, 'a minute later, another')
  t.match(lines[1], { skippedSinceLastWarning: 30 }, '14 chunks of 2 bytes after the first warning, then 1 and 1')
})
