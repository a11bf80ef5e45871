import t, { type Test } from 'tap'
import type { GuoxinSimulator, GuoxinSimOptions } from '../daemon/vendors/guoxin/simulator.js'
import type { Daemon } from '../daemon/daemon.js'
import { ttsVars } from '../daemon/vendors/guoxin/actions.js'
import { daemonRig, postJson, startGuoxin } from './helpers/rig.js'
import { getJson, until } from './helpers/sse.js'

// issue 11 item 1: every Guoxin opt the common routes do not reach is POST /v1/sources/:id/actions/<opt>,
// with seed 001's field names on the wire, in the source's charset, the answer decoded

interface Rig {
  sim: GuoxinSimulator
  daemon: Daemon
  api: string
  run(name: string, body?: unknown): Promise<{ status: number; body: any }>
  last(opt: string): { params: Record<string, string>; rawQuery: string }
}

async function rig(t: Test, source: Record<string, unknown> = {}, simOpts: Partial<GuoxinSimOptions> = {}): Promise<Rig> {
  const { sim } = await startGuoxin({ ringMs: 30, talkMs: 0, ...simOpts }, t)
  const d = await daemonRig({ sources: [{ id: 'gx', type: 'guoxin', url: sim.url, pollMs: 100, timeoutMs: 300, ...source }] }, { ingest: true, t })
  sim.opts.push = `${d.ingest!}/guoxin/gx/push`
  await until(() => d.daemon.table.countBySource('gx') > 0, 3000, 'first poll')
  return {
    sim,
    daemon: d.daemon,
    api: d.api,
    run: (name, body = {}) => postJson(`${d.api}/v1/sources/gx/actions/${name}`, body),
    last: (opt) => sim.requestsFor(opt).at(-1)!,
  }
}

/** until() for an async condition: asked every 50 ms, for at most 3 s. */
async function eventually(cond: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if (await cond()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

const NAMES = [
  'CLICK_TO_IP_CAPTCHA',
  'CLICK_TO_FIXEDLINE_CAPTCHA',
  'GET_CAPTCHA_RESULT',
  'TALKING_CALLER_TO_IVR',
  'SET_EXT_PRESENCE_STATE',
  'CALL_THIRD',
  'CALL_THIRD_GET_THIRD_STATE',
  'IVR_TTS_CALL',
  'IVR_TTS_CALL_RESULT',
  'IVR_TTS_CALL_MONITOR',
  'CALL_LOG_QUERY',
  'CALL_LOG_GET_WITH_CALLID',
  'ContactsSrvlt',
  'PreorderSrvlt',
  'ToneFileSvlt.query',
  'ToneFileSvlt.delete',
]

t.test('the list: every action named by its opt, fields named as seed 001 names them', async (t) => {
  const r = await rig(t)
  const { body } = await getJson(`${r.api}/v1/sources/gx/actions`)
  t.same(
    body.actions.map((a: any) => a.name),
    NAMES,
  )
  const fields = Object.fromEntries(body.actions.map((a: any) => [a.name, a.params.map((p: any) => p.name)]))
  t.same(fields.CLICK_TO_IP_CAPTCHA, ['id', 'precallcount', 'playtimes', 'extnum', 'callee', 'toneid', 'code', 'pwd'])
  t.same(fields.TALKING_CALLER_TO_IVR, ['caller', 'callee', 'ivrid'])
  t.same(fields.IVR_TTS_CALL, ['token', 'callee', 'toneid', 'tts'])
  t.same(fields.CALL_LOG_QUERY, ['first', 'maxResults', 'beginDate', 'endDate', 'telnum', 'dirction'])
  t.same(
    body.actions.filter((a: any) => a.kind === 'query').map((a: any) => a.name),
    ['GET_CAPTCHA_RESULT', 'CALL_THIRD_GET_THIRD_STATE', 'IVR_TTS_CALL_RESULT', 'IVR_TTS_CALL_MONITOR', 'CALL_LOG_QUERY', 'CALL_LOG_GET_WITH_CALLID', 'ToneFileSvlt.query'],
  )
})

t.test('captcha calls and their result: exact fields on the wire, the result decoded', async (t) => {
  const r = await rig(t)
  for (const opt of ['CLICK_TO_IP_CAPTCHA', 'CLICK_TO_FIXEDLINE_CAPTCHA']) {
    const id = `task-${opt}`
    const res = await r.run(opt, { id, precallcount: 1, playtimes: '2', extnum: '801', callee: 13227841198, toneid: 19, code: '112233' })
    t.equal(res.status, 200, opt)
    t.match(res.body, { source: 'gx', action: opt, result: { status: 200, meaning: 'ok', zh: '成功' }, vendor: { opt, status: 200 } })
    t.equal(r.last(opt).rawQuery, `id=${id}&precallcount=1&playtimes=2&extnum=801&callee=13227841198&toneid=19&code=112233&pwd=no&opt=${opt}`)
  }
  const q = await r.run('GET_CAPTCHA_RESULT', { id: 'task-CLICK_TO_IP_CAPTCHA' })
  t.equal(r.last('GET_CAPTCHA_RESULT').rawQuery, 'id=task-CLICK_TO_IP_CAPTCHA&opt=GET_CAPTCHA_RESULT')
  t.match(q.body.result, { code: Number, state: String })
  await eventually(async () => (await r.run('GET_CAPTCHA_RESULT', { id: 'task-CLICK_TO_IP_CAPTCHA' })).body.result.code === 1, 'succeeded')
  t.same((await r.run('GET_CAPTCHA_RESULT', { id: 'nope' })).body.result, { code: 404, state: 'no-such-id', zh: 'id 不存在', vars: {} })
  // the documented codes → 502 with the code and the seed's meaning
  for (const [code, zh] of [
    [401, '密码错误'],
    [421, '需付费开通'],
    [420, '参数错误'],
    [486, '后台忙'],
    [503, '系统错误'],
  ] as const) {
    r.sim.failNext('CLICK_TO_IP_CAPTCHA', code)
    const res = await r.run('CLICK_TO_IP_CAPTCHA', { id: `x${code}`, callee: '1', toneid: 1 })
    t.equal(res.status, 502, String(code))
    t.match(res.body.error, { code: 'VENDOR_REFUSED', vendor: { code, message: new RegExp(zh) } })
  }
  // the field checks, before anything is sent
  const n = r.sim.requestsFor('CLICK_TO_IP_CAPTCHA').length
  t.match(await r.run('CLICK_TO_IP_CAPTCHA', { id: 'a', callee: '1', toneid: 1, code: '12a' }), { status: 400, body: { error: { field: 'code' } } })
  t.match(await r.run('CLICK_TO_IP_CAPTCHA', { id: 'a', callee: '1' }), { status: 400, body: { error: { field: 'toneid' } } })
  t.match(await r.run('CLICK_TO_IP_CAPTCHA', { id: 'a', callee: '1', toneid: 1, pwd: 'secret' }), { status: 400, body: { error: { field: 'pwd' } } })
  t.match(await r.run('CLICK_TO_IP_CAPTCHA', { id: 'a b', callee: '1', toneid: 1 }), { status: 400, body: { error: { field: 'id' } } })
  t.equal(r.sim.requestsFor('CLICK_TO_IP_CAPTCHA').length, n, 'the refused field checks sent nothing')
})

t.test('IVR/TTS calls: ttsXXX variables percent-encoded in the source charset (GBK), result and monitor decoded', async (t) => {
  const r = await rig(t, { encoding: 'gbk' }, { encoding: 'gbk' })
  const res = await r.run('IVR_TTS_CALL', { token: 'tk1', callee: '015919823610', toneid: 20, tts: 'abc=你好世界!\nttsname=王' })
  t.equal(res.status, 200)
  t.equal(r.last('IVR_TTS_CALL').rawQuery, 'token=tk1&callee=015919823610&toneid=20&ttsabc=%C4%E3%BA%C3%CA%C0%BD%E7%21&ttsname=%CD%F5&opt=IVR_TTS_CALL')
  t.same(r.last('IVR_TTS_CALL').params.ttsabc, '你好世界!')
  await eventually(async () => (await r.run('IVR_TTS_CALL_RESULT', { token: 'tk1' })).body.result.code === 1, 'done')
  t.same((await r.run('IVR_TTS_CALL_RESULT', { token: 'tk1' })).body.result, { code: 1, state: 'succeeded', zh: '呼叫成功', vars: { satisfact: '8' } })
  t.equal(r.last('IVR_TTS_CALL_RESULT').rawQuery, 'token=tk1&opt=IVR_TTS_CALL_RESULT')
  t.same((await r.run('IVR_TTS_CALL_MONITOR')).body.result, { queue: 0, playcount: 0 })
  t.equal(r.last('IVR_TTS_CALL_MONITOR').rawQuery, 'opt=IVR_TTS_CALL_MONITOR')
  // 483 duplicate token (the simulator's own answer)
  t.match(await r.run('IVR_TTS_CALL', { token: 'tk1', callee: '1', toneid: 20 }), { status: 502, body: { error: { vendor: { code: 483, message: /重复提交/ } } } })
  t.match(await r.run('IVR_TTS_CALL', { token: 'tk2', callee: '1', toneid: 20, tts: 'no equals sign' }), { status: 400, body: { error: { field: 'tts' } } })
  t.same(ttsVars('a=1\n\nttsb=x=y'), { ttsa: '1', ttsb: 'x=y' })
})

t.test('in-call actions: TALKING_CALLER_TO_IVR, CALL_THIRD (then resume through /v1/calls), its third-party state, presence reducing', async (t) => {
  const r = await rig(t, {}, { ringMs: 200 })
  const call = r.sim.incoming('802', '13500000000')!
  await until(() => call.phase === 'talking', 3000, 'talking')
  const ct = await r.run('CALL_THIRD', { callee: '802', target: '803' })
  t.match(ct, { status: 200, body: { result: { status: 200 } } })
  t.equal(r.last('CALL_THIRD').rawQuery, 'callee=802&target=803&opt=CALL_THIRD')
  t.equal(r.daemon.table.lookup('gx', '802')!.state, 'held')
  const st = await r.run('CALL_THIRD_GET_THIRD_STATE', { callee: '802' })
  t.equal(st.status, 200)
  t.match(st.body.result, { state: /^(trying|ringing|answered)$/, status: Number })
  t.equal(r.last('CALL_THIRD_GET_THIRD_STATE').rawQuery, 'callee=802&opt=CALL_THIRD_GET_THIRD_STATE')
  t.equal((await postJson(`${r.api}/v1/calls/resume`, { source: 'gx', agent: '802' })).status, 202, 'the consult is known to the common routes')
  t.equal(r.last('CALL_THIRD_RESUME').rawQuery, 'callee=802&opt=CALL_THIRD_RESUME')
  // the simulator's 404 for a third-party state with no consult
  t.match(await r.run('CALL_THIRD_GET_THIRD_STATE', { callee: '802' }), { status: 502, body: { error: { vendor: { code: 404, message: /无法找到 callee 相关的通话/ } } } })

  const ivr = await r.run('TALKING_CALLER_TO_IVR', { caller: '13500000000', callee: '802', ivrid: 3 })
  t.equal(ivr.status, 200)
  t.equal(r.last('TALKING_CALLER_TO_IVR').rawQuery, 'caller=13500000000&callee=802&ivrid=3&opt=TALKING_CALLER_TO_IVR')
  t.match(await r.run('TALKING_CALLER_TO_IVR', { caller: '13500000000', callee: '802', ivrid: 3 }), {
    status: 502,
    body: { error: { vendor: { code: 404, message: /主被相关的通话不存在或者语音菜单编号不存在/ } } },
  })
  r.sim.failNext('TALKING_CALLER_TO_IVR', 483)
  t.match(await r.run('TALKING_CALLER_TO_IVR', { caller: '1', callee: '802', ivrid: 3 }), { status: 502, body: { error: { vendor: { code: 483, message: /找到多个通话/ } } } })

  t.equal((await r.run('SET_EXT_PRESENCE_STATE', { extnum: '801', state: 'reducing' })).status, 200)
  t.equal(r.last('SET_EXT_PRESENCE_STATE').rawQuery, 'extnum=801&state=reducing&opt=SET_EXT_PRESENCE_STATE')
  await until(() => r.daemon.table.lookup('gx', '801')?.vendor?.presence === 'reducing', 2000, 'presence polled')
  t.match(await r.run('SET_EXT_PRESENCE_STATE', { extnum: '801', state: 'away' }), { status: 400, body: { error: { field: 'state' } } })
})

t.test('call log: CALL_LOG_QUERY and CALL_LOG_GET_WITH_CALLID with the seed field names (dirction), decoded; timeout 504', async (t) => {
  const r = await rig(t, {}, { ringMs: 20 })
  const call = r.sim.incoming('801', '13900000000')!
  await until(() => call.phase === 'talking', 2000, 'talking')
  r.sim.endCall(call, 'hungup')
  const day = new Date().toISOString().slice(0, 10)
  const res = await r.run('CALL_LOG_QUERY', { beginDate: day, endDate: day, telnum: '801', dirction: 1, first: 0, maxResults: 10 })
  t.equal(res.status, 200)
  t.equal(r.last('CALL_LOG_QUERY').rawQuery, `first=0&maxResults=10&beginDate=${day}&endDate=${day}&telnum=801&dirction=1&opt=CALL_LOG_QUERY`)
  t.match(res.body.result, { count: 1, logs: [{ caller: '13900000000', callee: '801', state: 'received', callid: call.id }], skipped: [] })
  const one = await r.run('CALL_LOG_GET_WITH_CALLID', { callid: call.id })
  t.match(one.body.result, { callid: call.id, caller: '13900000000' })
  t.equal(r.last('CALL_LOG_GET_WITH_CALLID').rawQuery, `callid=${encodeURIComponent(call.id)}&opt=CALL_LOG_GET_WITH_CALLID`)
  t.equal((await r.run('CALL_LOG_GET_WITH_CALLID', { callid: 'none@x' })).body.result, null)
  t.match(await r.run('CALL_LOG_QUERY', { beginDate: '2026-1-1', endDate: day }), { status: 400, body: { error: { field: 'beginDate' } } })
  t.match(await r.run('CALL_LOG_QUERY', { beginDate: day, endDate: day, dirction: 3 }), { status: 400, body: { error: { field: 'dirction' } } })
  // no answer: 504 (before the failing polls take the source down); a control is sent once, a query retried
  r.sim.silent = true
  const ctl = r.sim.requestsFor('IVR_TTS_CALL').length
  t.equal((await r.run('IVR_TTS_CALL', { token: 't', callee: '1', toneid: 1 })).status, 504)
  t.equal(r.sim.requestsFor('IVR_TTS_CALL').length, ctl + 1, 'a control is sent once')
  const slow = await r.run('IVR_TTS_CALL_MONITOR')
  t.equal(slow.status, 504)
  t.ok(r.sim.requestsFor('IVR_TTS_CALL_MONITOR').length > 1, 'a query is asked again')
  r.sim.silent = false
})

t.test('§19, §20, §24: customers, sales leads and voice files through their servlets (GBK source)', async (t) => {
  const r = await rig(t, { encoding: 'gbk' }, { encoding: 'gbk' })
  const contacts = JSON.stringify({ contacts: [{ cname: '李先生', localuser: -1, gid: 1, details: [{ tid: 1, cvalue: '13227841198' }] }] })
  t.match(await r.run('ContactsSrvlt', { data: contacts }), { status: 200, body: { result: { status: 200 } } })
  const got = r.sim.requests.filter((q) => q.path === '/bridge/ContactsSrvlt').at(-1)!
  t.equal(got.params.data, contacts, 'data arrives as sent')
  t.match(got.rawQuery, /^data=%7B%22contacts%22.*%C0%EE%CF%C8%C9%FA/, 'Chinese percent-encoded in GBK')
  t.match(await r.run('ContactsSrvlt', { data: contacts }), { status: 502, body: { error: { vendor: { code: 483, message: /电话号码重复/ } } } })
  t.match(await r.run('ContactsSrvlt', { data: '{"contacts":' }), { status: 400, body: { error: { field: 'data' } } })
  const lead = JSON.stringify({ preorder: [{ cname: 'Mr.Wang', telnum: '13227841100', product: 'CallCenterSystem', comment: '', qq: '1234567' }] })
  t.match(await r.run('PreorderSrvlt', { data: lead }), { status: 200 })
  t.match(await r.run('PreorderSrvlt', { data: lead }), { status: 502, body: { error: { vendor: { code: 483, message: /商机重复/ } } } })
  const tones = await r.run('ToneFileSvlt.query')
  t.match(tones.body.result[0], { id: 1, titel: '个人来电转语音邮箱导航', path: 'personalVoiceMail.wav' })
  t.equal(r.sim.requests.filter((q) => q.path === '/bridge/ToneFileSvlt').at(-1)!.rawQuery, 'opt=query')
  t.match(await r.run('ToneFileSvlt.delete', { id: 12 }), { status: 200, body: { result: { zh: '删除成功' } } })
  t.equal(r.sim.requests.filter((q) => q.path === '/bridge/ToneFileSvlt').at(-1)!.rawQuery, 'opt=delete&id=12')
  t.match(await r.run('ToneFileSvlt.delete', { id: 12 }), { status: 502, body: { error: { vendor: { code: 404, message: /无法找到相关数据/ } } } })
})
