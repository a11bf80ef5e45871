import t from 'tap'
import type { Daemon } from '../daemon/daemon.js'
import type { LqVackSimulator } from '../daemon/vendors/lq-vack/simulator.js'
import type { LqVackSource } from '../daemon/vendors/lq-vack/source.js'
import { daemonRig, postJson, startLqVack } from './helpers/rig.js'
import { getJson, type SseReader, until } from './helpers/sse.js'

// issue 11 for lq-vack: every seed 000 vo_id as a vendor action, the E-IVR round trip, recordings,
// dial of an extension, agent A's internal channel for transfer2Ext / talk3s, channel detail

const KEY = 'k3y-for-lq'

interface Rig {
  sim: LqVackSimulator
  daemon: Daemon
  api: string
  ingest: string
  src: LqVackSource
  sse: SseReader
}

async function rig(opts: { sim?: Partial<LqVackSimulator['opts']>; source?: Record<string, unknown> } = {}): Promise<Rig> {
  const lq = await startLqVack({ channels: 4, agents: ['801', '802', '客服甲'], answerMs: 60_000, talkMs: 0, ...opts.sim }, t)
  const sim = lq.sim
  const source = { id: 'lqv', type: 'lq-vack', url: sim.url, secret: 'lcall', pollMs: 100, operPollMs: 100, queuePollMs: 100, timeoutMs: 300, queryAttempts: 1, callback: { key: KEY }, ...opts.source }
  const d = await daemonRig({ timeZone: 'Asia/Shanghai', sources: [source] }, { ingest: true, sse: true, t })
  const src = d.daemon.sources.get('lqv') as LqVackSource
  await until(() => src.status === 'connected' && d.daemon.table.countBySource('lqv') === 7, 5000, 'first poll')
  return { sim, daemon: d.daemon, api: d.api, ingest: d.ingest!, src, sse: d.sse! }
}

const act = (r: Rig, name: string, body: unknown) => postJson(`${r.api}/v1/sources/lqv/actions/${name}`, body)

/** the fields of the last request of a vo_id, without the ones every call carries */
function lastFields(r: Rig, voId: string): Record<string, string> {
  const req = r.sim.requestsFor(voId).at(-1)
  if (!req) return {}
  const { vo_id: _v, _secs_: _s, ifAjaxResp: _a, ...rest } = req.fields
  return rest
}

const ALL = [
  'agentdeny',
  'sendflash',
  'playTTS',
  'push2flow',
  'callouterFast',
  'callouterSafe',
  'callouterSafeTalk',
  'callouterSafeReturn',
  'callouterSafeConf',
  'callusb',
  'fastSMS',
  'fastFax',
  'getSmsBal',
  'agentLogout',
  'sendPop',
  'callback',
  'popModifyCustCall',
  'getCustCall',
  'playSelected',
  'getLoc',
  'getOperStatus',
  'getQueueStatus',
  'getChStatus',
]

t.test('GET /v1/sources/lqv/actions lists every vo_id the common routes do not cover, with seed 000 field names', async (t) => {
  const r = await rig()
  const res = await getJson(`${r.api}/v1/sources/lqv/actions`)
  t.equal(res.status, 200)
  const byName = new Map<string, any>(res.body.actions.map((a: any) => [a.name, a]))
  t.same([...byName.keys()].sort(), [...ALL].sort())
  for (const a of byName.values()) t.ok(a.description.length > 10 && !a.description.includes('\n'), `${a.name} has a one-line description`)
  t.same(
    byName.get('playTTS').params.map((p: any) => p.name),
    ['tts', 'if_wait', 'ch', 'oper'],
  )
  t.same(
    byName.get('push2flow').params.map((p: any) => p.name),
    ['flow', 'ch', 'oper', 'para', 'if_wait'],
  )
  for (const q of ['getCustCall', 'playSelected', 'getLoc', 'getOperStatus', 'getQueueStatus', 'getChStatus', 'getSmsBal']) t.equal(byName.get(q).kind, 'query', q)
  for (const c of ['agentdeny', 'playTTS', 'push2flow', 'fastSMS', 'callback', 'popModifyCustCall']) t.equal(byName.get(c).kind, 'control', c)
})

t.test('every control action reaches the vendor with exactly seed 000 field names; Chinese in GBK', async (t) => {
  const r = await rig({ sim: { stateless: true } })
  const cases: [string, Record<string, unknown>, Record<string, string>][] = [
    ['agentdeny', { oper: '801', type: 1 }, { oper: '801', type: '1' }],
    ['agentdeny', { oper: '801' }, { oper: '801', type: '3' }],
    ['sendflash', { oper: '801' }, { oper: '801' }],
    ['playTTS', { tts: '您好，请稍候', if_wait: false, oper: '801' }, { tts: '您好，请稍候', if_wait: 'false', ch: '-1', oper: '801' }],
    ['push2flow', { flow: 'password', para: '33333333', ch: -1, oper: '801' }, { flow: 'password', ch: '-1', oper: '801', para: '33333333', if_wait: 'true' }],
    ['callouterFast', { phone: '13900000000', oper: '801', ch: 4 }, { phone: '13900000000', ch: '4', oper: '801' }],
    ['callouterSafe', { phone: '13900000000', oper: '801' }, { phone: '13900000000', ch: '-1', oper: '801' }],
    ['callouterSafeTalk', { oper: '801' }, { ch: '-1', oper: '801' }],
    ['callouterSafeReturn', { oper: '801' }, { ch: '-1', oper: '801' }],
    ['callouterSafeConf', { oper: '801' }, { ch: '-1', oper: '801' }],
    ['callusb', { phone_calloutb: '13900000000;13900000001', flow_calloutb: '满意度调查' }, { phone_calloutb: '13900000000;13900000001', flow_calloutb: '满意度调查', repType: 'rep2xml' }],
    ['fastSMS', { receiver: '13900000000;13900000001', memo: '您的验证码是1234' }, { receiver: '13900000000;13900000001', memo: '您的验证码是1234', time_type: '1', repType: 'rep2xml' }],
    [
      'fastSMS',
      { receiver: '13900000000', memo: '提醒', time_type: 2, date_schedule: '2026-12-03', time_schedule: '09:00:01', retry_cnt: 2 },
      { receiver: '13900000000', memo: '提醒', time_type: '2', date_schedule: '2026-12-03', time_schedule: '09:00:01', retry_cnt: '2', repType: 'rep2xml' },
    ],
    ['fastFax', { receiver: '02586307627', filename: '报价单.tif' }, { receiver: '02586307627', filename: '报价单.tif', time_type: '1', repType: 'rep2xml' }],
    ['agentLogout', { oper: '客服甲' }, { oper: '客服甲' }],
    ['sendPop', { oper: '801' }, { oper: '801' }],
    ['callback', { phone: '02586307627', app_info: '10.0.0.9' }, { phone: '02586307627', app_info: '10.0.0.9' }],
    [
      'popModifyCustCall',
      { startTime: '1208674344953', phone_cust: '02586307627', memo: '客户要求回电', custcall_3_16: '张三' },
      { startTime: '1208674344953', phone_cust: '02586307627', memo: '客户要求回电', code_reason: '1', custcall_3_16: '张三' },
    ],
  ]
  for (const [name, body, fields] of cases) {
    const res = await act(r, name, body)
    t.equal(res.status, 200, `${name}: ${JSON.stringify(res.body)}`)
    t.match(res.body, { source: 'lqv', action: name, result: { done: true, msg: '执行成功' } }, name)
    t.same(lastFields(r, name), fields, `${name} fields`)
  }
  // the wire: GBK bytes, percent-encoded (您好 = C4FA BAC3), not UTF-8
  t.match(r.sim.requestsFor('playTTS').at(-1)!.raw, /tts=%C4%FA%BA%C3/)
  t.match(r.sim.requestsFor('agentLogout').at(-1)!.raw, /oper=%BF%CD%B7%FE%BC%D7/)
})

t.test('queries: answers decoded into JSON (call log rows, recording URL, location, agents, queues, channels, SMS balance)', async (t) => {
  const r = await rig({ sim: { answerMs: 50, talkMs: 50 } })
  await postJson(`${r.api}/v1/calls`, { source: 'lqv', agent: '801', phone: '02586307627' })
  await until(() => r.sim.log.length === 1, 3000, 'a call logged')
  const cc = await act(r, 'getCustCall', { code_operator: '801', pn: 1 })
  t.equal(cc.status, 200, JSON.stringify(cc.body))
  t.same(lastFields(r, 'getCustCall'), { code_operator: '801', pn: '1', charset: 'gb2312' })
  t.match(cc.body.result, { total: 1, page: 1, calls: [{ oper: '801', phone: '02586307627', direction: 2, file: /\.wav$/ }] })
  const row = cc.body.result.calls[0]
  const ps = await act(r, 'playSelected', { sn: row.sn, type: 2 })
  t.equal(ps.status, 200)
  t.same(lastFields(r, 'playSelected'), { sn: row.sn, type: '2', byInternet: 'false', charset: 'gb2312' })
  t.match(ps.body.result, { url: new RegExp(`/v/audio/${row.sn}_\\d+\\.wav$`) })
  const missing = await act(r, 'playSelected', { id: '999' })
  t.equal(missing.status, 502)
  t.match(missing.body.error, { message: /读取错/ })
  const loc = await act(r, 'getLoc', { phone: '13851498888' })
  t.same(loc.body.result, { phone: '13851498888', location: '210000', city: '南京市', province: '江苏省' })
  const op = await act(r, 'getOperStatus', { oper: '客服甲' })
  t.match(op.body.result, { agents: [{ oper: '客服甲', ch: 6, loggedIn: true }] })
  // the poller asks getOperStatus and getChStatus too: look for ours
  t.ok(r.sim.requestsFor('getOperStatus').some((x) => x.fields['oper'] === '客服甲'))
  const q = await act(r, 'getQueueStatus', {})
  t.match(q.body.result, { sizes: { chWait: 0 }, entries: [] })
  const chs = await act(r, 'getChStatus', { type: 2 })
  t.match(chs.body.result, { channels: [{ ch: 4, kind: 'agent' }, { ch: 5 }, { ch: 6, oper: '客服甲' }] })
  t.ok(r.sim.requestsFor('getChStatus').some((x) => x.fields['type'] === '2'))
  const bal = await act(r, 'getSmsBal', {})
  t.match(bal.body.result, { root: { bal: '88.50' } })
})

t.test('refusals are 502 with the vendor message, no answer 504 (queries asked again, controls once), bad fields 400', async (t) => {
  const r = await rig({ source: { downAfter: 1000 } })
  const refused = await act(r, 'playTTS', { tts: '你好', oper: '801' })
  t.equal(refused.status, 502)
  t.match(refused.body.error, { message: /坐席不在通话状态/ })
  t.equal((await act(r, 'playTTS', { tts: '你好' })).body.error.field, 'oper')
  t.equal((await act(r, 'playTTS', { tts: '你好', oper: '801', speed: 2 })).body.error.field, 'speed')
  t.equal((await act(r, 'agentdeny', { oper: '801', type: 4 })).body.error.field, 'type')
  t.equal((await act(r, 'getCustCall', { call_date_start: '2026/12/01' })).body.error.field, 'call_date_start')
  t.equal((await act(r, 'nosuch', {})).status, 404)
  // fastSMS: 140 bytes in GBK (70 Chinese characters), not 140 characters
  t.equal((await act(r, 'fastSMS', { receiver: '13900000000', memo: '好'.repeat(70) })).status, 200)
  const long = await act(r, 'fastSMS', { receiver: '13900000000', memo: '好'.repeat(71) })
  t.equal(long.status, 400)
  t.match(long.body.error, { field: 'memo', message: /140 bytes in gbk, got 142/ })
  const many = await act(r, 'fastSMS', { receiver: Array.from({ length: 90 }, (_, i) => `1390000${String(i).padStart(4, '0')}`).join(';'), memo: 'x' })
  t.match(many.body.error, { field: 'receiver' })
  r.sim.silent = true
  const ctl = await act(r, 'sendPop', { oper: '801' })
  t.equal(ctl.status, 504)
  t.equal(r.sim.unanswered.filter((x) => x.voId === 'sendPop').length, 1, 'a control is sent once')
  const qry = await act(r, 'getLoc', { phone: '025' })
  t.equal(qry.status, 504)
  t.equal(r.sim.unanswered.filter((x) => x.voId === 'getLoc').length, 3, 'a query is asked three times')
})

t.test('fastSMS counts bytes in the configured charset: 47 Chinese characters are 141 bytes in UTF-8', async (t) => {
  const r = await rig({ source: { charset: 'utf-8' } })
  const res = await act(r, 'fastSMS', { receiver: '13900000000', memo: '好'.repeat(47) })
  t.equal(res.status, 400)
  t.match(res.body.error, { field: 'memo', message: /utf-8, got 141/ })
  t.equal((await act(r, 'fastSMS', { receiver: '13900000000', memo: '好'.repeat(46) })).status, 200)
})

t.test('E-IVR round trip: push2flow over the actions API, the flow calls popCRURL back, a t2 pop with its result on /v1/events', async (t) => {
  const r = await rig({ sim: { answerMs: 50, talkMs: 0 } })
  r.sim.opts.ivrUrl = `${r.ingest}/lq/lqv/ivr?key=${KEY}&`
  r.sim.inbound('13851498888')
  await until(() => r.sim.agentChannel('801')!.status === 3, 3000, '801 talking')
  const res = await act(r, 'push2flow', { flow: 'password', para: '卡号123', if_wait: true, oper: '801' })
  t.equal(res.status, 200, JSON.stringify(res.body))
  t.match(r.sim.requestsFor('push2flow').at(-1)!.raw, /para=%BF%A8%BA%C5123/)
  const pop = await r.sse.next((e) => e.event === 'pop' && e.data.pop.format === 't2')
  t.match(pop.data.pop, { phone: '13851498888', ivr: { voId: 'VO_PASSWORD', result: 0, param: '卡号123' }, data: { 验证: '通过' } })
  // a flow that fails says so: r=1
  await act(r, 'push2flow', { flow: 'password', oper: '801' })
  const failed = await r.sse.next((e) => e.event === 'pop' && e.data.pop.format === 't2' && e.data.pop.ivr.result === 1)
  t.match(failed.data.pop, { data: { 验证: '失败' } })
  t.equal(r.sim.callbackErrors, 0)
})

t.test('recordings: GET /v1/sources/lqv/recordings/:id asks playSelected for the download URL and streams it, Range passed on', async (t) => {
  const r = await rig({ sim: { answerMs: 50, talkMs: 50 } })
  await postJson(`${r.api}/v1/calls`, { source: 'lqv', agent: '801', phone: '02586307627' })
  await until(() => r.sim.log.length === 1, 3000, 'a call logged')
  const cc = await act(r, 'getCustCall', {})
  const { id, sn } = cc.body.result.calls[0]
  const info = (await getJson(`${r.api}/v1/sources/lqv`)).body
  t.ok((info.source ?? info).supports.includes('recordings'))
  const full = await fetch(`${r.api}/v1/sources/lqv/recordings/${id}`)
  t.equal(full.status, 200)
  t.equal(full.headers.get('content-type'), 'audio/wav')
  const wav = Buffer.from(await full.arrayBuffer())
  t.equal(wav.subarray(0, 4).toString(), 'RIFF')
  t.same(lastFields(r, 'playSelected'), { id, type: '2', charset: 'gb2312' })
  const part = await fetch(`${r.api}/v1/sources/lqv/recordings/sn:${sn}`, { headers: { range: 'bytes=0-11' } })
  t.equal(part.status, 206)
  t.equal(part.headers.get('content-range'), `bytes 0-11/${wav.length}`)
  t.same(Buffer.from(await part.arrayBuffer()), wav.subarray(0, 12))
  t.equal(lastFields(r, 'playSelected')['sn'], sn)
  t.equal((await fetch(`${r.api}/v1/sources/lqv/recordings/999`)).status, 502, 'an unknown id: the vendor refuses (读取错)')
  t.equal((await fetch(`${r.api}/v1/sources/lqv/recordings/abc`)).status, 400)
  // the vendor's audio URL not reachable from here: 504
  r.sim.opts.host = '127.0.0.2'
  t.equal((await fetch(`${r.api}/v1/sources/lqv/recordings/${id}`)).status, 504)
})

t.test('dial an extension: POST /v1/calls with target sends callauto reqType=1', async (t) => {
  const r = await rig()
  const res = await postJson(`${r.api}/v1/calls`, { source: 'lqv', agent: '801', target: '802' })
  t.equal(res.status, 202, JSON.stringify(res.body))
  t.match(lastFields(r, 'callauto'), { oper: '801', phone: '802', reqType: '1' })
  t.equal((await postJson(`${r.api}/v1/calls`, { source: 'lqv', agent: '801' })).status, 400, 'phone or target is needed')
})

t.test("transfer2Ext and talk3s by callId send agent A's internal channel, never the call's external line", async (t) => {
  const r = await rig({ sim: { answerMs: 50, talkMs: 0 } })
  r.sim.opts.custUrl = `${r.ingest}/lq/lqv/cust?key=${KEY}&`
  r.sim.inbound('13851498888')
  const pop = await r.sse.next((e) => e.event === 'pop' && e.data.pop.phone === '13851498888')
  const callId = pop.data.pop.callId as string
  t.equal(pop.data.pop.channel, 0, 'the call id is on the external line')
  await until(() => r.sim.agentChannel('801')!.status === 3, 3000, '801 talking')
  const conf = await postJson(`${r.api}/v1/calls/conference`, { source: 'lqv', callId, target: '802' })
  t.equal(conf.status, 202, JSON.stringify(conf.body))
  t.same(lastFields(r, 'talk3s'), { oper: '802', ch: '4', operLocal: '801' })
  await postJson(`${r.api}/v1/calls/transfer`, { source: 'lqv', callId, target: '客服甲' })
  t.same(lastFields(r, 'transfer2Ext'), { phone: '客服甲', ch: '4', oper: '801' })
  // an external line named as the channel: -1 (looked up by oper), not the line
  const byLine = await postJson(`${r.api}/v1/calls/transfer`, { source: 'lqv', agent: '不在册', channel: '3', target: '802' })
  t.equal(byLine.status, 502)
  t.same(lastFields(r, 'transfer2Ext'), { phone: '802', ch: '-1', oper: '不在册' })
})

t.test('channels: a pop keeps the poll detail, 等待坐席挂机 is not talking, endTime/idleTime/file kept, inUse 0 is 未使用, queue by type', async (t) => {
  const r = await rig()
  t.match(r.daemon.table.lookup('lqv', '4')!.vendor, { inUse: 0, inUseText: '未使用', endTime: null, idleTime: /^\d\d:\d\d:\d\d$/, file: null })
  // a custURL pop on 801's channel: the channel kind stays, so a hang-up by callId is agenthang, not hangup of a line
  const q = `key=${KEY}&phone=13851498888&oper=801&ch=4&id=120185105900064&startTime=1201851059000`
  t.equal((await fetch(`${r.ingest}/lq/lqv/cust?${q}`)).status, 200)
  const popped = r.daemon.table.lookup('lqv', '4')
  t.match(popped, { state: 'ringing', callId: /\d/, vendor: { kind: 'agent', type: '内线', popFormat: /^t1/ } })
  await postJson(`${r.api}/v1/calls/hangup`, { source: 'lqv', callId: popped!.callId })
  t.equal(r.sim.requestsFor('hangup').length, 0, 'no hangup of an external line')
  t.same(lastFields(r, 'agenthang'), { oper: '801' })
  // 摘机 + 等待坐席挂机: the call is over
  r.sim.set(5, { status: 1, inUse: 2, step: '等待坐席挂机', phone: '02586307627', endTime: '17:24:30' })
  await until(() => r.daemon.table.lookup('lqv', '5')!.vendor?.['step'] === '等待坐席挂机', 3000, 'polled')
  t.match(r.daemon.table.lookup('lqv', '5'), { state: 'idle', vendor: { status: 1, inUseText: '手工呼出', endTime: '17:24:30' } })
  r.sim.set(5, { step: '通话中', recording: true })
  await until(() => r.daemon.table.lookup('lqv', '5')!.state === 'talking', 3000, 'talking again')
  t.match(r.daemon.table.lookup('lqv', '5')!.vendor, { file: '录音中', recording: true })
  // the queue an entry belongs to comes from its type word
  ;(r.src as unknown as { queueAnswer: unknown }).queueAnswer = {
    sizes: { callauto: 1, chWait: 0, calloutb: 1 },
    entries: [
      { inUse: null, type: '自动呼出', phone: '1', ch: 0, waitType: null, waitValue: null, startTime: null, totalSeconds: 1 },
      { inUse: 1, type: '批量外呼', phone: '2', ch: 1, waitType: null, waitValue: null, startTime: null, totalSeconds: 1 },
    ],
    generated: null,
  }
  const qs = r.src.queues()
  t.match(
    qs.map((x) => [x.queue, x.entries.map((e) => e.phone)]),
    [
      ['inbound', []],
      ['auto-outbound', ['1']],
      ['batch-outbound', ['2']],
    ],
  )
})
