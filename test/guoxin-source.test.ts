import t, { type Test } from 'tap'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import type { Daemon } from '../daemon/daemon.js'
import { installJsonErrors } from '../daemon/core/http.js'
import type { GuoxinSimulator, GuoxinSimOptions } from '../daemon/vendors/guoxin/simulator.js'
import { GuoxinSource } from '../daemon/vendors/guoxin/source.js'
import { guoxinApiRoutes } from '../daemon/vendors/guoxin/api.js'
import { sourcesRoutes } from '../daemon/sources-api.js'
import { VendorRefused, VendorTimeout, UnsupportedAction, type CallRequest } from '../daemon/core/control.js'
import { daemonRig, startGuoxin } from './helpers/rig.js'
import { SseReader, getJson, until } from './helpers/sse.js'

interface GxRig {
  sim: GuoxinSimulator
  daemon: Daemon
  api: string
  ingest: string
  /** an API listener carrying guoxinApiRoutes (the lead wires it into daemon.ts) */
  extra: string
  logs: Record<string, unknown>[]
  source: GuoxinSource
  state(ext: string): string | undefined
}

async function gxRig(t: Test, source: Record<string, unknown> = {}, simOpts: Partial<GuoxinSimOptions> & { pushes?: boolean } = {}): Promise<GxRig> {
  const { sim } = await startGuoxin(simOpts, t)
  const logs: Record<string, unknown>[] = []
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>)
      cb()
    },
  })
  const d = await daemonRig(
    { timeZone: 'Asia/Shanghai', sources: [{ id: 'gx', type: 'guoxin', url: sim.url, pollMs: 100, timeoutMs: 300, ...source }] },
    { ingest: true, log: pino({ level: process.env.TB_TEST_LOG ?? 'info' }, dest), t },
  )
  const { daemon, api: apiUrl, ingest: ingestUrl } = d
  if (simOpts.pushes !== false) sim.opts.push = `${ingestUrl}/guoxin/gx/push`
  const extra = Fastify()
  installJsonErrors(extra)
  guoxinApiRoutes(daemon.sources)(extra)
  // the vendor-held recordings route is the generic one of every source (daemon/sources-api.ts)
  sourcesRoutes({ sources: daemon.sources, log: daemon.log })(extra)
  await extra.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => extra.close())
  await until(() => daemon.table.countBySource('gx') > 0, 3000, 'first poll')
  const addr = extra.server.address() as { port: number }
  return {
    sim,
    daemon,
    api: apiUrl,
    ingest: ingestUrl!,
    extra: `http://127.0.0.1:${addr.port}`,
    logs,
    source: daemon.sources.get('gx') as GuoxinSource,
    state: (ext) => daemon.table.lookup('gx', ext)?.state,
  }
}

async function post(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: r.status, body: await r.json() }
}

const channelEv = (id: string, state: string) => (e: { event: string; data: any }) => e.event === 'channel' && e.data.id === id && e.data.state === state

t.test('polling puts every extension in the table, presence and missed calls in vendor', async (t) => {
  const r = await gxRig(t, {}, { pushes: false })
  const { body } = await getJson(`${r.api}/v1/channels?source=gx`)
  t.same(
    body.channels.map((c: any) => [c.channel, c.state, c.agent, c.vendor.userName, c.vendor.presence, c.vendor.missingCallCount]),
    [
      ['801', 'idle', '801', '李阳', 'online', 0],
      ['802', 'idle', '802', '张霞', 'online', 0],
      ['803', 'idle', '803', '王芳', 'online', 0],
    ],
  )
  const info = (await getJson(`${r.api}/v1/sources/gx`)).body
  t.equal(info.status, 'connected')
  t.same(info.supports, ['pops', 'dial', 'hangup', 'transfer', 'hold', 'resume', 'monitor', 'barge', 'force-hangup', 'conference', 'presence', 'recordings', 'call-log'])
  t.equal(info.detail.pushPath, '/guoxin/gx/push')
  t.equal(info.detail.timeoutMs, 300)
  // a missed call and a presence change show up on the next poll
  r.sim.exts.get('802')!.presence = 'busy'
  r.sim.incoming('802', '13700000000')
  await until(() => r.daemon.table.lookup('gx', '802')?.vendor?.missingCallCount === 1, 2000, 'missed call counted')
  t.equal(r.daemon.table.lookup('gx', '802')!.vendor!.presence, 'busy')
})

t.test('dial → ringing → talking → idle, seen on /v1/events through polling alone', async (t) => {
  const r = await gxRig(t, {}, { pushes: false, talkMs: 300 })
  const sse = await SseReader.open(`${r.api}/v1/events`)
  t.teardown(() => sse.close())
  const res = await post(`${r.api}/v1/calls`, { source: 'gx', agent: '801', phone: '13800000001' })
  t.equal(res.status, 202)
  t.match(res.body, { accepted: true, vendor: { opt: 'CLICK_TO_DIAL', status: 200 } })
  t.same(r.sim.requestsFor('CLICK_TO_DIAL')[0]!.params, { caller: '801', callee: '13800000001', authtype: 'no', opt: 'CLICK_TO_DIAL' })
  const talking = await sse.next(channelEv('gx:801', 'talking'), 3000)
  t.match(talking.data, { phone: '13800000001', direction: 'outbound', vendor: { state: 'BUSY_OUTGOING' } })
  await sse.next(channelEv('gx:801', 'idle'), 3000)
  t.equal(r.daemon.table.lookup('gx', '801')!.phone, null)
})

t.test('pushes drive the table and pop from the callee leg only (maincall ignored)', async (t) => {
  const r = await gxRig(t, { pollMs: 60_000 }, { ringMs: 150 })
  const sse = await SseReader.open(`${r.api}/v1/events`)
  t.teardown(() => sse.close())
  const call = r.sim.incoming('802', '13700000000')!
  const ringing = await sse.next(channelEv('gx:802', 'ringing'), 3000)
  t.match(ringing.data, { phone: '13700000000', direction: 'inbound', callId: call.id, agent: '802' })
  const pop = await sse.next((e) => e.event === 'pop', 3000)
  t.match(pop.data, { source: 'gx', channelId: null, pop: { format: 't1v5', phone: '13700000000', agent: '802', callId: call.id, direction: 'inbound', kind: 'inbound', data: { group: call.group } } })
  await sse.next(channelEv('gx:802', 'talking'), 3000)
  const hang = await post(`${r.api}/v1/calls/hangup`, { source: 'gx', agent: '802' })
  t.equal(hang.status, 202)
  t.same(r.sim.requestsFor('CLICK_TO_HUNGUP')[0]!.params, { caller: '802', callee: '13700000000', opt: 'CLICK_TO_HUNGUP' }, 'the callee is taken from the table')
  await sse.next(channelEv('gx:802', 'idle'), 3000)
  await r.sim.flushPushes()
  t.ok(
    r.sim.pushes.some((p) => p.params.businessId === 'maincall'),
    'maincall legs were pushed',
  )
  t.ok(
    r.sim.pushes.every((p) => p.status === 200),
    'every push accepted',
  )
  t.equal(sse.events.filter((e) => e.event === 'pop').length, 1, 'one pop per call (ringing and talking of one leg)')
  t.equal((await getJson(`${r.api}/v1/pops?source=gx`)).body.pops.length, 1)
  // a transfer makes a new callee leg: a pop at the target
  r.sim.incoming('801', '13600000000')
  await sse.next(channelEv('gx:801', 'talking'), 3000)
  const tr = await post(`${r.api}/v1/calls/transfer`, { source: 'gx', agent: '801', target: '803' })
  t.equal(tr.status, 202)
  await sse.next(channelEv('gx:803', 'ringing'), 3000)
  await sse.next(channelEv('gx:801', 'idle'), 3000)
  await until(() => sse.events.filter((e) => e.event === 'pop').length === 3, 3000, 'pop at the transfer target')
  t.match(sse.events.filter((e) => e.event === 'pop')[2]!.data, { pop: { agent: '803', phone: '13600000000' } })
})

t.test('every control action reaches the right opt with the right fields', async (t) => {
  const r = await gxRig(t, { dialLine: 'ip' }, { ringMs: 30 })
  const s = r.source
  const last = (opt: string) => r.sim.requestsFor(opt).at(-1)?.params
  const ctl = (req: Omit<CallRequest, 'source'>) => s.control({ source: 'gx', ...req } as CallRequest)

  t.match(await ctl({ action: 'dial', agent: '801', phone: '13800000001' }), { vendor: { opt: 'CLICK_TO_IP_DIAL', status: 200 } })
  t.same(last('CLICK_TO_IP_DIAL'), { caller: '801', callee: '13800000001', authtype: 'no', opt: 'CLICK_TO_IP_DIAL' })
  await until(() => r.state('801') === 'talking', 3000, '801 talking')

  await ctl({ action: 'hold', agent: '801', target: '802' })
  t.same(last('CALL_THIRD'), { callee: '801', target: '802', opt: 'CALL_THIRD' })
  t.equal(r.state('801'), 'held')
  await ctl({ action: 'resume', agent: '801' })
  t.same(last('CALL_THIRD_RESUME'), { callee: '801', opt: 'CALL_THIRD_RESUME' })
  t.equal(r.state('801'), 'talking')

  await ctl({ action: 'hold', channel: '801', phone: '13900000000' })
  await ctl({ action: 'conference', agent: '801' })
  t.same(last('CALL_THIRD_CONFERENCE'), { callee: '801', opt: 'CALL_THIRD_CONFERENCE' }, 'a conference during a consult joins the third party')

  await ctl({ action: 'hold', agent: '801', target: '802' })
  await ctl({ action: 'transfer', agent: '801' })
  t.same(last('CALL_THIRD_TRANSFER'), { callee: '801', opt: 'CALL_THIRD_TRANSFER' }, 'a transfer during a consult hands the call over')
  await until(() => r.state('802') === 'talking' && r.state('801') === 'idle', 3000, 'call at 802')

  // the push carries the call id (a poll may show the call first, without one)
  const callId = await until(() => r.daemon.table.lookup('gx', '802')!.callId, 3000, 'call id from the push')
  await ctl({ action: 'transfer', callId, target: '801' })
  t.same(last('CLICK_TO_TRANSFER'), { extnum: '802', target: '801', opt: 'CLICK_TO_TRANSFER' }, 'the extension is found by call id')
  await until(() => r.state('801') === 'talking', 3000, 'call at 801')

  const conf = await ctl({ action: 'conference', agent: '801', target: '802' })
  t.same(last('CONFERENCE_CREATE'), { caller: '801', callee: '13800000001', target: '802', opt: 'CONFERENCE_CREATE' }, 'caller and callee from the table (outbound call)')
  t.equal(conf.callId, '801', 'the conference is numbered by its caller')
  await ctl({ action: 'conference', agent: '801', phone: '15900000000' })
  t.same(last('CONFERENCE_JOIN'), { conferenceid: '801', target: '15900000000', opt: 'CONFERENCE_JOIN' })
  await ctl({ action: 'conference', callId: '801', target: '13500000000' })
  t.same(last('CONFERENCE_JOIN'), { conferenceid: '801', target: '13500000000', opt: 'CONFERENCE_JOIN' }, 'a call id that is no call names a conference')

  await ctl({ action: 'monitor', agent: '803', target: '801' })
  t.same(last('CALL_MONITOR'), { leaderExtnum: '803', wokerExtnum: '801', opt: 'CALL_MONITOR' })
  await ctl({ action: 'barge', agent: '803', channel: '801' })
  t.same(last('FORCE_PICKUP'), { leaderExtnum: '803', wokerExtnum: '801', opt: 'FORCE_PICKUP' })
  await until(() => r.state('803') === 'talking', 3000, 'supervisor took the call')
  await ctl({ action: 'force-hangup', agent: '803', target: '803' })
  t.same(last('FORCE_HUNGUP'), { leaderExtnum: '803', wokerExtnum: '803', opt: 'FORCE_HUNGUP' })
  await until(() => r.state('803') === 'idle', 3000, 'hung up')

  await ctl({ action: 'presence', agent: '802', presence: 'busy' })
  t.same(last('SET_EXT_PRESENCE_STATE'), { extnum: '802', state: 'busy', opt: 'SET_EXT_PRESENCE_STATE' })
  await ctl({ action: 'presence', agent: '802', presence: 'idle' })
  t.same(last('SET_EXT_PRESENCE_STATE'), { extnum: '802', state: 'online', opt: 'SET_EXT_PRESENCE_STATE' })
  await until(() => r.daemon.table.lookup('gx', '802')?.vendor?.presence === 'online', 2000, 'presence polled')

  await t.rejects(ctl({ action: 'dtmf', agent: '801', digits: '1' }), UnsupportedAction)
  await t.rejects(ctl({ action: 'hold', agent: '801' }), { name: 'UnsupportedAction', message: /CALL_THIRD/ })
  await t.rejects(ctl({ action: 'force-hangup', target: '801' }), { code: 'BAD_REQUEST', message: /supervisor/ })
  await t.rejects(ctl({ action: 'conference', agent: '802', target: '801' }), { code: 'BAD_REQUEST', message: /no call/ })
  await t.rejects(ctl({ action: 'dial', agent: '80 1', phone: '1' }), { code: 'BAD_REQUEST', message: /agent must be/ })
})

t.test('refusals: each code → VendorRefused with the code and its meaning; 502 through the API; transport → 504', async (t) => {
  const r = await gxRig(t)
  r.sim.failNext('CLICK_TO_TRANSFER', 486)
  const err = await r.source.control({ action: 'transfer', source: 'gx', agent: '801', target: '802' }).catch((e: unknown) => e)
  t.type(err, VendorRefused)
  t.match(err, { vendorCode: 486, vendorMessage: 'CLICK_TO_TRANSFER: target extension is busy (目标分机忙)' })

  for (const [path, opt, code, body, zh] of [
    ['/v1/calls/transfer', 'CLICK_TO_TRANSFER', 480, { agent: '801', target: '802' }, '目标分机不在线'],
    ['/v1/calls/monitor', 'CALL_MONITOR', 403, { agent: '801', target: '802' }, '主管分机权限不足'],
    ['/v1/calls/barge', 'FORCE_PICKUP', 503, { agent: '803', target: '802' }, '系统资源不足'],
    ['/v1/calls/force-hangup', 'FORCE_HUNGUP', 404, { agent: '803', target: '802' }, '没有找到可强拆的通话'],
  ] as const) {
    r.sim.failNext(opt, code)
    const res = await post(`${r.api}${path}`, { source: 'gx', ...body })
    t.equal(res.status, 502, `${path} ${code}`)
    t.match(res.body.error, { code: 'VENDOR_REFUSED', source: 'gx', vendor: { code, message: new RegExp(zh) } })
  }
  // the simulator's own answer: 802 is not in a call
  const own = await post(`${r.api}/v1/calls/transfer`, { source: 'gx', agent: '802', target: '801' })
  t.match(own, { status: 502, body: { error: { vendor: { code: 481, message: /extnum 不存在可以转移的通话/ } } } })
  const presence = await post(`${r.api}/v1/agents/999/presence`, { source: 'gx', presence: 'busy' })
  t.match(presence, { status: 502, body: { error: { vendor: { code: 404, message: /目标分机不存在/ } } } })
  const dtmf = await post(`${r.api}/v1/calls/dtmf`, { source: 'gx', agent: '801', digits: '1' })
  t.equal(dtmf.status, 422)

  const n = r.sim.requestsFor('CLICK_TO_DIAL').length
  r.sim.silent = true
  const slow = await r.source.control({ action: 'dial', source: 'gx', agent: '801', phone: '1' }).catch((e: unknown) => e)
  t.type(slow, VendorTimeout)
  t.equal(r.sim.requestsFor('CLICK_TO_DIAL').length, n + 1, 'the dial was sent once, not retried')
  r.sim.silent = false
})

t.test('a simulator that stops answering: source down, channels unknown; then it recovers', async (t) => {
  const r = await gxRig(t, {}, { pushes: false })
  const sse = await SseReader.open(`${r.api}/v1/events`)
  t.teardown(() => sse.close())
  r.sim.silent = true
  await sse.next((e) => e.event === 'source' && e.data.id === 'gx' && e.data.status === 'down', 5000)
  await until(() => ['801', '802', '803'].every((x) => r.state(x) === 'unknown'), 3000, 'unknown')
  const down = await post(`${r.api}/v1/calls`, { source: 'gx', agent: '801', phone: '1' })
  t.equal(down.status, 503, 'nothing is sent to a source that is down')
  t.ok(r.logs.some((l) => l.msg === 'vendor stopped answering; source down, channels unknown'))
  r.sim.silent = false
  await sse.next((e) => e.event === 'source' && e.data.id === 'gx' && e.data.status === 'connected' && e.data.previous === 'down', 5000)
  await until(() => ['801', '802', '803'].every((x) => r.state(x) === 'idle'), 3000, 'idle again')
})

t.test('bad pushes: a clear 400 naming the field, a log line, the table untouched', async (t) => {
  const r = await gxRig(t, { pollMs: 60_000 })
  const before = JSON.stringify(r.daemon.table.list({ source: 'gx' }))
  const base = `${r.ingest}/guoxin/gx/push`
  for (const [q, field] of [
    ['caller=1&callee=801&state=ringing', 'id'],
    ['id=x%40y&caller=1&callee=801&state=answered', 'state'],
    ['id=x%40y&caller=1&callee=80%3B1&state=ringing', 'callee'],
    ['id=x%40y&caller=1&callee=801&state=ringing&state=talking', 'state'],
    ['id=a%20b&caller=1&callee=801&state=ringing', 'id'],
    ['id=x&caller=%3Cb%3E&callee=801&state=ringing', 'caller'],
  ] as const) {
    const res = await getJson(`${base}?${q}`)
    t.equal(res.status, 400, q)
    t.equal(res.body.error.code, 'BAD_REQUEST')
    t.equal(res.body.error.field, field)
    t.match(res.body.error.message, new RegExp(`^bad request: ${field}: `))
  }
  t.equal(JSON.stringify(r.daemon.table.list({ source: 'gx' })), before, 'the table is untouched')
  t.equal(r.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('bad Guoxin push')).length, 6)
  t.equal((await getJson(`${r.api}/v1/sources/gx`)).body.detail.pushesRejected, 6)
  // a push naming no known extension changes nothing either
  t.equal((await getJson(`${base}?id=x&caller=13700000000&callee=13800000000&state=ringing`)).status, 200)
  t.equal(JSON.stringify(r.daemon.table.list({ source: 'gx' })), before)
})

t.test('pushes from an address not allowed are refused (403)', async (t) => {
  const r = await gxRig(t, { pushAllow: ['10.0.0.0/8', '192.168.1.82'] })
  const res = await getJson(`${r.ingest}/guoxin/gx/push?id=x&caller=1&callee=801&state=ringing`)
  t.equal(res.status, 403)
  t.equal(res.body.error.code, 'FORBIDDEN')
  t.equal(r.state('801'), 'idle')
})

t.test('a watch list and a custom push path', async (t) => {
  const r = await gxRig(t, { extensions: ['801', '809'], pushPath: '/hooks/gx' }, { pushes: false })
  r.sim.opts.push = `${r.ingest}/hooks/gx`
  await until(() => r.state('809') === 'unknown', 2000, 'unlisted watched extension')
  t.equal(r.state('801'), 'idle')
  t.equal(r.state('802'), undefined, 'not watched')
  t.match(r.daemon.table.lookup('gx', '809')!.vendor, { listed: false })
  r.sim.incoming('801', '13700000000')
  await until(() => r.state('801') === 'ringing' || r.state('801') === 'talking', 2000, 'push on the custom path')
})

t.test('recordings and call log through the API routes', async (t) => {
  const r = await gxRig(t, { pollMs: 60_000 }, { ringMs: 20 })
  const call = r.sim.incoming('801', '13700000000')!
  await until(() => r.state('801') === 'talking', 2000, 'talking')
  await post(`${r.api}/v1/calls/hangup`, { source: 'gx', agent: '801' })
  const res = await fetch(`${r.extra}/v1/sources/gx/recordings/${encodeURIComponent(call.id)}`)
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-type'), 'audio/x-wav')
  t.match(res.headers.get('content-disposition'), /^attachment; filename="801_13700000000_\d+\.wav"$/)
  const wav = Buffer.from(await res.arrayBuffer())
  t.equal(wav.subarray(0, 4).toString(), 'RIFF')
  t.equal(Number(res.headers.get('content-length')), wav.length)
  t.equal((await getJson(`${r.extra}/v1/sources/gx/recordings/nope@1`)).status, 404)
  t.equal((await getJson(`${r.extra}/v1/sources/gx/recordings/${encodeURIComponent('../../etc')}`)).status, 400)
  t.equal((await getJson(`${r.extra}/v1/sources/nope/recordings/x`)).status, 404)

  const today = new Date().toISOString().slice(0, 10)
  const log = await getJson(`${r.extra}/v1/sources/gx/call-log?begin=${today}&telnum=801`)
  t.equal(log.status, 200)
  t.match(log.body, { source: 'gx', count: 1, logs: [{ caller: '13700000000', callee: '801', state: 'received', callid: call.id }] })
  t.equal((await getJson(`${r.extra}/v1/sources/gx/call-log/${encodeURIComponent(call.id)}`)).body.log.id, log.body.logs[0].id)
  t.equal((await getJson(`${r.extra}/v1/sources/gx/call-log?begin=yesterday`)).status, 400)
  t.equal((await getJson(`${r.extra}/v1/sources/gx/call-log?begin=${today}&direction=sideways`)).status, 400)
  r.sim.silent = true
  t.equal((await getJson(`${r.extra}/v1/sources/gx/recordings/${encodeURIComponent(call.id)}`)).status, 504)
  r.sim.silent = false
})

t.test('config: keys checked with specific messages', async (t) => {
  const base = { id: 'gx', type: 'guoxin', url: 'http://10.0.0.6:12121' }
  const cfg = parseConfig({ sources: [base] }).sources[0]!
  t.match(cfg, { pollMs: 2000, timeoutMs: 5000, encoding: 'utf-8', dialLine: 'fixed', downAfter: 1 })
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ url: 'http://10.0.0.6:12121/bridge/callctrl' }, /sources\[0\]\.url: expected the server's base URL without a path/],
    [{ url: 'ftp://x' }, /url: expected an http/],
    [{ pushAllow: ['10.0.0.0/33'] }, /pushAllow\[0\]: expected a prefix length/],
    [{ pushAllow: ['example.com'] }, /pushAllow\[0\]: expected an IP address/],
    [{ pushPath: 'guoxin' }, /pushPath: expected a path starting with \//],
    [{ encoding: 'big5' }, /encoding: expected one of/],
    [{ extensions: ['8 01'] }, /extensions\[0\]: expected an extension number/],
    [{ pollMs: 10 }, /pollMs: expected a whole number from 100/],
    [{ secret: 'x' }, /sources\[0\]\.secret: expected no such key/],
  ]
  for (const [patch, msg] of bad) t.throws(() => parseConfig({ sources: [{ ...base, ...patch }] }), { message: msg })
  t.throws(() => parseConfig({ sources: [{ ...base, url: 'x' }] }), { path: 'sources[0].url' })
  t.same(parseConfig({ sources: [{ ...base, extensions: [801, '802'], pushAllow: ['any'] }] }).sources[0]!, { ...cfg, extensions: ['801', '802'], pushAllow: ['any'] })
})
