import t from 'tap'
import type { Daemon } from '../daemon/daemon.js'
import type { LqVackSimulator } from '../daemon/vendors/lq-vack/simulator.js'
import type { LqVackSource } from '../daemon/vendors/lq-vack/source.js'
import { daemonRig, startLqVack } from './helpers/rig.js'
import { getJson, type SseReader, until } from './helpers/sse.js'

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
  const { daemon } = d
  const src = daemon.sources.get('lqv') as LqVackSource
  await until(() => src.status === 'connected' && daemon.table.countBySource('lqv') === 7, 5000, 'first poll')
  return { sim, daemon, api: d.api, ingest: d.ingest!, src, sse: d.sse! }
}

async function post(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: r.status, body: await r.json() }
}

const chEvent = (id: string, state: string) => (e: { event: string; data: any }) => e.event === 'channel' && e.data.id === id && e.data.state === state

t.test('poll: channels, agents (Chinese) and directions in the table; GET /v1/sources', async (t) => {
  const r = await rig()
  const ch = r.daemon.table.lookup('lqv', '6')!
  t.match(ch, { state: 'idle', agent: '客服甲', direction: null, vendor: { kind: 'agent', type: '内线', statusText: '挂机', step: '空闲' } })
  t.match(r.daemon.table.lookup('lqv', '0'), { state: 'idle', agent: null, vendor: { kind: 'external', type: '外线' } })
  const s = await getJson(`${r.api}/v1/sources/lqv`)
  const info = s.body.source ?? s.body
  t.match(info, { type: 'lq-vack', status: 'connected', channels: 7 })
  t.ok(info.supports.includes('dial') && info.supports.includes('presence') && info.supports.includes('queues'))
  await until(() => (r.src.info().detail['agents'] as unknown[]).length === 3, 2000, 'agents')
  const agents = r.src.info().detail['agents'] as { oper: string }[]
  t.same(agents.map((a) => a.oper).sort(), ['801', '802', '客服甲'].sort())
})

t.test('a dial over POST /v1/calls: the memo arrives in GBK, the channel goes dialing → talking → idle on /v1/events', async (t) => {
  const r = await rig({ sim: { answerMs: 250, talkMs: 250 } })
  const res = await post(`${r.api}/v1/calls`, { source: 'lqv', agent: '801', phone: '02586307627', memo: '回访：张先生' })
  t.equal(res.status, 202, JSON.stringify(res.body))
  t.match(res.body, { accepted: true, source: 'lqv', action: 'dial', vendor: { voId: 'callauto', msg: '执行成功' } })
  t.match(r.sim.requestsFor('callauto')[0]!.fields, { oper: '801', phone: '02586307627', reqType: '0', userData: '回访：张先生', _secs_: 'lcall', ifAjaxResp: 'true' })
  const dialing = await r.sse.next(chEvent('lqv:4', 'dialing'))
  t.match(dialing.data, { phone: '02586307627', direction: 'outbound', agent: '801', vendor: { inUseText: '手工呼出' } })
  await r.sse.next(chEvent('lqv:4', 'talking'))
  const idle = await r.sse.next((e) => chEvent('lqv:4', 'idle')(e) && e.data.previousState === 'talking')
  t.match(idle.data, { phone: null, direction: null })
  // the external line went the same way
  await r.sse.next(chEvent('lqv:0', 'talking'))
})

t.test('every control action reaches the right vo_id with the right fields', async (t) => {
  const r = await rig()
  // 802 on an inbound call (for hold, transfer, monitor…)
  r.sim.inbound('13851498888')
  const cases: [string, Record<string, unknown>, string, Record<string, string>][] = [
    ['calls', { agent: '801', phone: '02586307627' }, 'callauto', { oper: '801', phone: '02586307627', reqType: '0' }],
    ['calls', { agent: '801', phone: '802' }, 'callauto', { oper: '801', phone: '802', reqType: '1' }],
    ['calls/hangup', { agent: '801' }, 'agenthang', { oper: '801' }],
    ['calls/hangup', { channel: '1' }, 'hangup', { ch: '1' }],
    ['calls/transfer', { agent: '801', target: '802' }, 'transfer2Ext', { oper: '801', phone: '802' }],
    ['calls/transfer', { agent: '801', phone: '13900000000' }, 'callouterFast', { oper: '801', phone: '13900000000' }],
    ['calls/hold', { agent: '801' }, 'talkkeep', { oper: '801', type: '2' }],
    ['calls/resume', { agent: '801', channel: '4' }, 'talkrestore', { oper: '801', ch: '4', type: '2' }],
    ['calls/dtmf', { agent: '801', digits: '1#' }, 'senddtmf', { oper: '801', dtmf: '1#' }],
    ['calls/monitor', { agent: '801', target: '802' }, 'listenlc', { oper: '802', operLocal: '801', type: '2' }],
    ['calls/barge', { agent: '801', target: '802' }, 'breakin', { oper: '802', operLocal: '801', type: '2' }],
    ['calls/force-hangup', { target: '802' }, 'breakout', { oper: '802', type: '2' }],
    ['calls/force-hangup', { channel: '2' }, 'hangup', { ch: '2' }],
    ['calls/conference', { agent: '801', target: '客服甲' }, 'talk3s', { oper: '客服甲', operLocal: '801' }],
    ['agents/802/presence', { presence: 'busy' }, 'setBusyAj', { oper: '802', setBusy: 'true' }],
    ['agents/802/presence', { presence: 'idle' }, 'setBusyAj', { oper: '802', setBusy: 'false' }],
  ]
  for (const [route, body, voId, fields] of cases) {
    const n = r.sim.requests.length
    const res = await post(`${r.api}/v1/${route}`, { source: 'lqv', ...body })
    t.ok(res.status === 202 || res.status === 502, `${route} ${JSON.stringify(body)}: ${res.status} ${JSON.stringify(res.body)}`)
    if (res.status === 502) t.match(res.body.error, { code: 'VENDOR_REFUSED', source: 'lqv', vendor: { code: 'error', message: /\S/ } })
    const sent = r.sim.requests.slice(n).filter((x) => x.voId === voId)
    t.equal(sent.length, 1, `${route}: one ${voId}`)
    t.match(sent[0]?.fields, { ...fields, _secs_: 'lcall' }, `${route} → ${voId}`)
  }
  t.equal(r.sim.agents.get('802')!.busy, false, 'presence idle arrived last')
})

t.test('refusals are 502 with the vendor message, LQ limits 422, bad fields 400', async (t) => {
  const r = await rig()
  const res = await post(`${r.api}/v1/calls/hangup`, { source: 'lqv', agent: '801' })
  t.equal(res.status, 502)
  t.match(res.body.error, { code: 'VENDOR_REFUSED', source: 'lqv', vendor: { code: 'error', message: '坐席不在通话状态 (分通道无效)' } })
  const conf = await post(`${r.api}/v1/calls/conference`, { source: 'lqv', agent: '801', phone: '13900000000' })
  t.equal(conf.status, 422)
  t.match(conf.body.error, { code: 'UNSUPPORTED_ACTION', source: 'lqv', action: 'conference' })
  const n = r.sim.requests.length
  const noAgent = await post(`${r.api}/v1/calls`, { source: 'lqv', channel: '1', phone: '02586307627' })
  t.equal(noAgent.status, 400, 'an external line has no agent to dial from')
  const byCh = await post(`${r.api}/v1/calls`, { source: 'lqv', channel: '5', phone: '02586307627' })
  t.equal(byCh.status, 202, 'an agent channel dials as its agent')
  t.match(r.sim.requests.slice(n).find((x) => x.voId === 'callauto')!.fields, { oper: '802', ch: '5' })
})

t.test('a vendor that stops answering: down, channels unknown; recovers; control is 503 meanwhile', async (t) => {
  const r = await rig()
  r.sim.silent = true
  await r.sse.next((e) => e.event === 'source' && e.data.id === 'lqv' && e.data.status === 'down', 5000)
  await until(() => r.daemon.table.list({ source: 'lqv' }).every((e) => e.state === 'unknown'), 3000, 'all unknown')
  const res = await post(`${r.api}/v1/calls`, { source: 'lqv', agent: '801', phone: '1' })
  t.equal(res.status, 503)
  r.sim.silent = false
  await r.sse.next((e) => e.event === 'source' && e.data.id === 'lqv' && e.data.status === 'connected' && e.data.previous === 'down', 5000)
  await until(() => r.daemon.table.list({ source: 'lqv' }).every((e) => e.state === 'idle'), 3000, 'all idle again')
  // control over a silent server: 504, never retried
  r.sim.silent = true
  const n = r.sim.requests.length
  const direct = await r.src.control({ action: 'dial', source: 'lqv', agent: '801', phone: '02586307627' }).catch((e: Error) => e)
  t.match(direct, { name: 'VendorTimeout', source: 'lqv', timeoutMs: 300 })
  t.equal(r.sim.requests.length, n, 'the silent server records nothing (it never read a form)')
  r.sim.silent = false
})

t.test('queues: GET /v1/queues shows callers waiting, with Chinese words', async (t) => {
  const r = await rig()
  for (const a of r.sim.agents.values()) a.busy = true
  r.sim.inbound('02586307627')
  let got: any
  for (let i = 0; i < 100; i++) {
    got = (await getJson(`${r.api}/v1/queues`)).body
    if (got.queues?.some((x: any) => x.source === 'lqv' && x.queue === 'inbound' && x.size === 1)) break
    await new Promise((res) => setTimeout(res, 30))
  }
  const inbound = got.queues.find((x: any) => x.queue === 'inbound')
  t.match(inbound, { source: 'lqv', size: 1, entries: [{ type: '外部呼入', phone: '02586307627', ch: 0, waitType: 'oper', inUse: 1 }] })
  t.same(got.queues.map((x: any) => x.queue).sort(), ['auto-outbound', 'batch-outbound', 'inbound'])
  t.match(r.daemon.table.lookup('lqv', '0'), { state: 'ringing', direction: 'inbound', phone: '02586307627' })
})

t.test('mode 1 callbacks: GBK query strings become pops; key, bad input', async (t) => {
  const r = await rig()
  // custURL as the LQ server calls it: oper 客服甲 and dtmf in GBK percent-encoding
  const q = 'key=' + KEY + '&phone=02586307627&oper=%BF%CD%B7%FE%BC%D7&ch=6&outch=2&datetime=080201153059&startTime=1201851059000&id=12018510590006&dtmf=1;2;&memo=%C4%E3%BA%C3'
  const res = await fetch(`${r.ingest}/lq/lqv/cust?${q}`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /text\/html/)
  t.match(await res.text(), /来电 <b>02586307627<\/b>/)
  const pop = await r.sse.next((e) => e.event === 'pop' && e.data.pop.format === 't1v3')
  t.match(pop.data, {
    source: 'lqv',
    channelId: 'lqv:2',
    pop: {
      channel: 2,
      phone: '02586307627',
      agent: '客服甲',
      callId: '12018510590006',
      time: '2008-02-01T15:30:59+08:00',
      dtmf: ['1', '2'],
      direction: 'inbound',
      extra: { agentCh: '6', memo: '你好' },
    },
  })
  // the ivr (popCRURL) result: a t2 pop
  const ivr = await fetch(`${r.ingest}/lq/lqv/ivr?key=${KEY}&v=VO_VAL_PWD2&r=0&ph=02586307627&pa=333333&da=%D1%E9%D6%A4:%CD%A8%B9%FD`)
  t.equal(ivr.status, 200)
  const t2 = await r.sse.next((e) => e.event === 'pop' && e.data.pop.format === 't2')
  t.match(t2.data.pop, { phone: '02586307627', ivr: { voId: 'VO_VAL_PWD2', result: 0, param: '333333' }, data: { 验证: '通过' } })
  // wrong key: 403, nothing published
  t.equal((await fetch(`${r.ingest}/lq/lqv/cust?phone=1&ch=1`)).status, 403)
  // bad input: 400 and pop.invalid
  const bad = await fetch(`${r.ingest}/lq/lqv/cust?key=${KEY}&phone=1&ch=x`)
  t.equal(bad.status, 400)
  const inv = await r.sse.next((e) => e.event === 'pop.invalid')
  t.match(inv.data, { source: 'lqv', code: 'BAD_CHANNEL', field: 'ch' })
  t.equal((await fetch(`${r.ingest}/lq/lqv/ivr?key=${KEY}&r=ok`)).status, 400)
  // the poll moves the popped line back to idle
  await r.sse.next((e) => chEvent('lqv:2', 'idle')(e) && e.data.previousState === 'ringing')
})

t.test('the simulator calls custURL and popCRURL itself; redirect to a CRM', async (t) => {
  const r = await rig({ sim: { answerMs: 100, talkMs: 0 }, source: { callback: { key: KEY, redirect: 'http://crm.example/cust?phone={phone}&agent={oper}' } } })
  r.sim.opts.custUrl = `${r.ingest}/lq/lqv/cust?key=${KEY}&`
  r.sim.opts.ivrUrl = `${r.ingest}/lq/lqv/ivr?key=${KEY}&`
  r.sim.inbound('13851498888')
  const pop = await r.sse.next((e) => e.event === 'pop' && e.data.pop.phone === '13851498888')
  t.match(pop.data.pop, { format: 't1v3', channel: 0, agent: '801' })
  await until(() => r.sim.agentChannel('801')!.status === 3, 3000, 'talking')
  const res = await post(`${r.api}/v1/calls/transfer`, { source: 'lqv', agent: '801', target: '802' })
  t.equal(res.status, 202)
  await r.src.client.push2flow({ oper: '802', flow: 'password', para: '卡号123', wait: true }).catch(() => {})
  await until(() => r.sim.agentChannel('802')!.status === 3, 3000, '802 talking')
  await r.src.client.push2flow({ oper: '802', flow: 'password', para: '卡号123', wait: true })
  const t2 = await r.sse.next((e) => e.event === 'pop' && e.data.pop.format === 't2')
  t.match(t2.data.pop, { ivr: { voId: 'VO_PASSWORD', result: 0, param: '卡号123' }, data: { 验证: '通过' } })
  t.equal(r.sim.callbackErrors, 0)
  const redir = await fetch(`${r.ingest}/lq/lqv/cust?key=${KEY}&phone=025&oper=%BF%CD%B7%FE%BC%D7&ch=6`, { redirect: 'manual' })
  t.equal(redir.status, 302)
  t.equal(redir.headers.get('location'), 'http://crm.example/cust?phone=025&agent=%E5%AE%A2%E6%9C%8D%E7%94%B2')
})

t.test('popSource: the vack poll moves a socket source’s popped channel back to idle', async (t) => {
  const r = await rig({ source: { popSource: 'lqs' } })
  // a pop the lq-socket source would have produced
  r.daemon.table.update('lqs', '3', { state: 'ringing', phone: '13800000000', direction: 'inbound', callId: 'x1' })
  await r.sse.next((e) => chEvent('lqs:3', 'idle')(e))
  t.match(r.daemon.table.lookup('lqs', '3'), { state: 'idle', callId: null })
  t.notOk(r.daemon.table.lookup('lqs', '1'), 'channels the pop source never saw are not created')
})
