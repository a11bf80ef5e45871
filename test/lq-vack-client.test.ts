import t from 'tap'
import { createServer } from 'node:http'
import { HttpTimeoutError, HttpUnreachableError } from '../protocols/http/client.js'
import { VackAnswerError, VackClient, VackError, VO_IDS } from '../protocols/lq-vack/index.js'
import { LqVackSimulator } from '../daemon/vendors/lq-vack/simulator.js'

const AGENTS = ['801', '802', '客服甲']

async function sim(opts: Partial<LqVackSimulator['opts']> = {}): Promise<LqVackSimulator> {
  const s = new LqVackSimulator({ port: 0, channels: 4, agents: AGENTS, answerMs: 60_000, talkMs: 0, ...opts })
  await s.start()
  t.teardown(() => s.stop())
  return s
}

function client(s: LqVackSimulator, o: Partial<ConstructorParameters<typeof VackClient>[0]> = {}): VackClient {
  return new VackClient({ url: s.url, secret: 'lcall', timeoutMs: 2000, ...o })
}

/** the last request the simulator saw */
const last = (s: LqVackSimulator) => s.requests[s.requests.length - 1]!

t.test('every service reaches the simulator with its vo_id and fields', async (t) => {
  const s = await sim()
  const c = client(s)
  const cases: [string, () => Promise<unknown>, Record<string, string>][] = [
    ['callauto', () => c.callauto({ oper: '801', phone: '02586307627', reqType: 0 }), { phone: '02586307627', reqType: '0', oper: '801' }],
    ['callauto', () => c.callauto({ oper: '801', phone: '802', reqType: 1, ch: 5 }), { phone: '802', reqType: '1', ch: '5', oper: '801' }],
    ['transfer2Ext', () => c.transfer2Ext({ oper: '801', phone: '802' }), { phone: '802', oper: '801' }],
    ['setBusyAj', () => c.setBusyAj({ oper: '801', busy: true }), { setBusy: 'true', oper: '801' }],
    ['setBusyAj', () => c.setBusyAj({ oper: '801', busy: false, ch: 4 }), { setBusy: 'false', setBusyCh: '4', oper: '801' }],
    ['talk3s', () => c.talk3s({ oper: '802', operLocal: '801' }), { oper: '802', operLocal: '801' }],
    ['listenlc', () => c.listenlc({ oper: '802', operLocal: '801' }), { oper: '802', operLocal: '801', type: '2' }],
    ['breakin', () => c.breakin({ oper: '802', operLocal: '801', ch: 5, type: 1 }), { oper: '802', operLocal: '801', ch: '5', type: '1' }],
    ['breakout', () => c.breakout({ oper: '802' }), { oper: '802', type: '2' }],
    ['agenthang', () => c.agenthang({ oper: '801' }), { oper: '801' }],
    ['hangup', () => c.hangup({ ch: 1 }), { ch: '1' }],
    ['agentdeny', () => c.agentdeny({ oper: '801' }), { oper: '801', type: '3' }],
    ['talkkeep', () => c.talkkeep({ oper: '801' }), { oper: '801', type: '2' }],
    ['talkrestore', () => c.talkrestore({ oper: '801', type: 0, ch: 2 }), { oper: '801', type: '0', ch: '2' }],
    ['senddtmf', () => c.senddtmf({ oper: '801', dtmf: '12#' }), { oper: '801', dtmf: '12#' }],
    ['sendflash', () => c.sendflash({ oper: '801' }), { oper: '801' }],
    ['playTTS', () => c.playTTS({ oper: '801', tts: '您好，您的余额为一百元。', wait: true }), { oper: '801', tts: '您好，您的余额为一百元。', if_wait: 'true' }],
    ['callouterFast', () => c.callouterFast({ oper: '801', phone: '13800000000' }), { oper: '801', phone: '13800000000' }],
    ['callouterSafe', () => c.callouterSafe({ oper: '801', phone: '13800000000' }), { oper: '801', phone: '13800000000' }],
    ['callouterSafeTalk', () => c.callouterSafeTalk({ oper: '801' }), { oper: '801' }],
    ['callouterSafeReturn', () => c.callouterSafeReturn({ oper: '801' }), { oper: '801' }],
    ['callouterSafeConf', () => c.callouterSafeConf({ oper: '801' }), { oper: '801' }],
    ['push2flow', () => c.push2flow({ oper: '801', flow: 'password', para: '33333333', wait: true, ch: -1 }), { oper: '801', flow: 'password', para: '33333333', if_wait: 'true', ch: '-1' }],
    ['callusb', () => c.callusb({ phones: ['13800000000', '02586307627'], flow: '通知' }), { phone_calloutb: '13800000000;02586307627', flow_calloutb: '通知', repType: 'rep2xml' }],
    ['fastSMS', () => c.fastSMS({ receivers: ['13800000000'], text: '您的快递已到' }), { receiver: '13800000000', memo: '您的快递已到', time_type: '1', repType: 'rep2xml' }],
    [
      'fastSMS',
      () => c.fastSMS({ receivers: ['1', '2'], text: 'x', at: { date: '2008-01-01', time: '09:00:01' }, retries: 2 }),
      { receiver: '1;2', time_type: '2', date_schedule: '2008-01-01', time_schedule: '09:00:01', retry_cnt: '2' },
    ],
    ['fastFax', () => c.fastFax({ receivers: ['02586307627'], filename: '报价单.tif' }), { receiver: '02586307627', filename: '报价单.tif', time_type: '1', repType: 'rep2xml' }],
    ['agentLogout', () => c.agentLogout({ oper: '802' }), { oper: '802' }],
    ['sendPop', () => c.sendPop({ oper: '801' }), { oper: '801' }],
    ['callback', () => c.callback({ phone: '13800000000', appInfo: '10.0.0.9' }), { phone: '13800000000', app_info: '10.0.0.9' }],
    [
      'popModifyCustCall',
      () => c.popModifyCustCall({ startTime: '1208674344953', phone: '02586307627', memo: '客户要求明天回电', extra: { custcall_3_16: '北京' } }),
      { startTime: '1208674344953', phone_cust: '02586307627', memo: '客户要求明天回电', code_reason: '1', custcall_3_16: '北京' },
    ],
    ['getChStatus', () => c.getChStatus('agent'), { type: '2' }],
    ['getOperStatus', () => c.getOperStatus('logon'), { oper: 'logon' }],
    ['getQueueStatus', () => c.getQueueStatus(), {}],
    [
      'getCustCall',
      () => c.getCustCall({ oper: '801', dateStart: '2008-01-01', serial: { ge: '5' }, page: 2 }),
      { code_operator: '801', call_date_start: '2008-01-01', ser_no_ge: '5', pn: '2', charset: 'gb2312' },
    ],
    ['playSelected', () => c.playSelected({ sn: '1001', download: true }), { sn: '1001', type: '2', charset: 'gb2312' }],
    ['getLoc', () => c.getLoc('13851498888'), { phone: '13851498888' }],
    ['getSmsBal', () => c.getSmsBal(), {}],
  ]
  const seen = new Set<string>()
  for (const [voId, call, fields] of cases) {
    try {
      await call()
    } catch (err) {
      // refusals are fine here (the state machine says no); what matters is what arrived
      t.ok(err instanceof VackError, `${voId}: ${String(err)}`)
    }
    const r = last(s)
    t.equal(r.voId, voId, voId)
    t.equal(r.method, 'POST')
    t.match(r.fields, { ...fields, _secs_: 'lcall', ifAjaxResp: 'true' }, voId)
    seen.add(voId)
  }
  t.same(
    VO_IDS.filter((v) => !seen.has(v)),
    [],
    'every vo_id of seed 000 was called',
  )
})

t.test('a dial is watched: 拨号 → 通话 → 空闲', async (t) => {
  const s = await sim({ answerMs: 150, talkMs: 150 })
  const c = client(s)
  const agentCh = (a: Awaited<ReturnType<VackClient['getChStatus']>>) => a.channels.find((x) => x.oper === '801' && x.kind === 'agent')!
  const done = await c.callauto({ oper: '801', phone: '02586307627', reqType: 0 })
  t.match(done, { msg: '执行成功', text: '执行成功', error: null })
  const a1 = agentCh(await c.getChStatus())
  t.match(a1, { statusText: '拨号', status: 5, inUse: 2, inUseText: '手工呼出', phone: '02586307627' })
  const line = (await c.getChStatus('external')).channels.find((x) => x.phone === '02586307627')!
  t.match(line, { kind: 'external', type: '外线', oper: '801', peerCh: a1.ch })
  await new Promise((r) => setTimeout(r, 200))
  t.match(agentCh(await c.getChStatus()), { statusText: '通话', status: 3 })
  await new Promise((r) => setTimeout(r, 200))
  t.match(agentCh(await c.getChStatus()), { status: 0, inUse: 0, phone: null })
  const log = await c.getCustCall({ oper: '801' })
  t.equal(log.calls.length, 1)
  t.match(log.calls[0], { phone: '02586307627', oper: '801', direction: 2 })
})

t.test('refusals carry the error attribute; secrets and unknown services', async (t) => {
  const s = await sim()
  const c = client(s)
  await t.rejects(c.agenthang({ oper: '801' }), { name: 'VackError', voId: 'agenthang', vendorMessage: '坐席不在通话状态', rcode: '0' })
  await t.rejects(c.call('noSuchService', {}), { name: 'VackError', vendorMessage: '未知服务号' })
  await t.rejects(client(s, { secret: 'wrong' }).getChStatus(), { name: 'VackError', vendorMessage: '安全校验失败' })
  await t.rejects(client(s, { secret: '' }).getChStatus(), { name: 'VackError' })
  t.notOk('_secs_' in last(s).fields, 'an empty secret is not sent')
  await t.rejects(c.playSelected({ sn: 'nope' }), { name: 'VackError', vendorMessage: '呼叫流水id=nope读取错!' })
  t.throws(() => c.fastSMS({ receivers: [], text: 'x' }), RangeError)
  t.throws(() => c.fastSMS({ receivers: ['1'], text: '长'.repeat(71) }), RangeError)
  t.throws(() => c.popModifyCustCall({ startTime: '1', phone: '1', memo: 'x', extra: { bad: 'x' } }), RangeError)
})

t.test('Chinese text survives gb2312 both ways, and GET and UTF-8 forms work too', async (t) => {
  const s = await sim()
  const c = client(s)
  const agents = await c.getOperStatus('logon')
  t.same(
    agents.map((a) => a.oper),
    AGENTS,
  )
  const chs = await c.getChStatus('agent')
  t.same(
    chs.channels.map((x) => x.oper),
    AGENTS,
  )
  t.ok(chs.channels.every((x) => x.type === '内线' && x.statusText === '挂机'))
  t.same(await c.getOperStatus('客服甲'), [{ oper: '客服甲', ch: 6, inUse: 0, status: 0, phone: null, loggedIn: true, busy: false }])

  const get = client(s, { method: 'GET' })
  await get.playTTS({ oper: '客服甲', tts: '请稍候，正在为您转接', wait: false }).catch(() => {})
  t.match(last(s), { method: 'GET', voId: 'playTTS', fields: { oper: '客服甲', tts: '请稍候，正在为您转接', if_wait: 'false' } })

  const utf8 = client(s, { charset: 'utf-8' })
  await utf8.popModifyCustCall({ startTime: '1', phone: '2', memo: '满意度：很好' }).catch(() => {})
  t.match(last(s), { voId: 'popModifyCustCall', fields: { memo: '满意度：很好' } })
  t.equal(c.form('x', { memo: '好' }), 'vo_id=x&memo=%BA%C3&ifAjaxResp=true&_secs_=lcall')
})

t.test('transport: a silent server times out, a closed port is unreachable', async (t) => {
  const s = await sim()
  s.silent = true
  const c = client(s, { timeoutMs: 150 })
  await t.rejects(c.getChStatus(), HttpTimeoutError)
  await t.rejects(c.callauto({ oper: '801', phone: '1', reqType: 0 }), HttpTimeoutError)
  s.silent = false
  t.ok((await c.getChStatus()).channels.length > 0, 'answers again')
  const port = s.port
  await s.stop()
  await t.rejects(new VackClient({ url: `http://127.0.0.1:${port}/v/vack`, timeoutMs: 500 }).getChStatus(), HttpUnreachableError)
})

t.test('answers that are no vack answers', async (t) => {
  let mode = 'html'
  const srv = createServer((req, res) => {
    req.resume()
    if (mode === 'html') res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>请登录</body></html>')
    else if (mode === 'redirect') res.writeHead(302, { location: '/v/login.jsp' }).end()
    else if (mode === 'empty') res.writeHead(200).end()
    else res.writeHead(500).end('boom')
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())))
  const addr = srv.address() as { port: number }
  const c = new VackClient({ url: `http://127.0.0.1:${addr.port}/v/vack`, timeoutMs: 1000 })
  await t.rejects(c.getChStatus(), { name: 'VackAnswerError', code: 'NO_RESULT', status: 200 })
  mode = 'redirect'
  await t.rejects(c.getChStatus(), { name: 'VackAnswerError', code: 'HTTP_STATUS', status: 302, message: /redirect to \/v\/login\.jsp/ })
  mode = 'error'
  await t.rejects(c.senddtmf({ oper: '1', dtmf: '1' }), VackAnswerError)
  mode = 'empty'
  t.equal(await c.senddtmf({ oper: '1', dtmf: '1' }), null, 'an empty 200 to a control call counts as done')
  await t.rejects(c.getQueueStatus(), { name: 'VackAnswerError', code: 'EMPTY' })
})
