import t, { type Test } from 'tap'
import { GuoxinClient, GuoxinRefused, OPT_CODES, type GuoxinOpt } from '../protocols/guoxin/index.js'
import { HttpTimeoutError, HttpUnreachableError } from '../protocols/http/client.js'
import { GuoxinSimulator } from '../daemon/vendors/guoxin/simulator.js'
import { until } from './helpers/sse.js'

async function sim(t: Test, opts: ConstructorParameters<typeof GuoxinSimulator>[0] = {}): Promise<{ sim: GuoxinSimulator; client: GuoxinClient }> {
  const s = new GuoxinSimulator({ port: 0, extensions: ['801', '802', '803'], supervisors: ['803'], ringMs: 30, talkMs: 0, ...opts })
  await s.start()
  t.teardown(() => s.stop())
  return { sim: s, client: new GuoxinClient({ url: s.url, timeoutMs: 1000, encoding: opts.encoding ?? 'utf-8', retryBaseMs: 10 }) }
}

t.test("every control opt reaches the simulator with the seed's fields", async (t) => {
  const { sim: s, client: c } = await sim(t)
  const last = (opt: string) => s.requestsFor(opt).at(-1)?.params
  await c.clickToDial({ caller: '801', callee: '13800000001' })
  t.same(last('CLICK_TO_DIAL'), { caller: '801', callee: '13800000001', authtype: 'no', opt: 'CLICK_TO_DIAL' })
  await c.clickToHangup({ caller: '801', callee: '13800000001' })
  t.same(last('CLICK_TO_HUNGUP'), { caller: '801', callee: '13800000001', opt: 'CLICK_TO_HUNGUP' })
  await c.clickToDial({ caller: '802', callee: '13800000002', line: 'ip' })
  t.same(last('CLICK_TO_IP_DIAL'), { caller: '802', callee: '13800000002', authtype: 'no', opt: 'CLICK_TO_IP_DIAL' })
  await until(() => s.exts.get('802')!.call?.phase === 'talking', 2000, '802 talking')

  await c.callThird({ callee: '802', target: '801' })
  t.same(last('CALL_THIRD'), { callee: '802', target: '801', opt: 'CALL_THIRD' })
  await until(() => s.exts.get('802')!.call?.third?.phase === 'answered', 2000, 'third answered')
  t.match(await c.callThirdState({ callee: '802' }), {
    state: 'answered',
    status: 200,
    meaning: { en: 'third party answered (not exact on PSTN lines)', zh: '目标终端接听, 如: PSTN 线路此处不是很准确, 需结合坐席话筒判断' },
  })
  await c.callThirdResume({ callee: '802' })
  t.same(last('CALL_THIRD_RESUME'), { callee: '802', opt: 'CALL_THIRD_RESUME' })
  await c.callThird({ callee: '802', target: '13900000000' })
  await c.callThirdConference({ callee: '802' })
  t.same(last('CALL_THIRD_CONFERENCE'), { callee: '802', opt: 'CALL_THIRD_CONFERENCE' })
  await c.callThird({ callee: '802', target: '803' })
  await c.callThirdTransfer({ callee: '802' })
  t.same(last('CALL_THIRD_TRANSFER'), { callee: '802', opt: 'CALL_THIRD_TRANSFER' })
  t.equal(s.exts.get('803')!.call?.remote, '13800000002', 'the call went to the third party')

  await c.transfer({ extnum: '803', target: '801' })
  t.same(last('CLICK_TO_TRANSFER'), { extnum: '803', target: '801', opt: 'CLICK_TO_TRANSFER' })
  await until(() => s.exts.get('801')!.call?.phase === 'talking', 2000, '801 talking')
  await c.conferenceCreate({ caller: '13800000002', callee: '801', target: '802' })
  t.same(last('CONFERENCE_CREATE'), { caller: '13800000002', callee: '801', target: '802', opt: 'CONFERENCE_CREATE' })
  await c.conferenceJoin({ conferenceid: '13800000002', target: '15900000000' })
  t.same(last('CONFERENCE_JOIN'), { conferenceid: '13800000002', target: '15900000000', opt: 'CONFERENCE_JOIN' })
  await c.monitor({ leaderExtnum: '803', wokerExtnum: '801' })
  t.same(last('CALL_MONITOR'), { leaderExtnum: '803', wokerExtnum: '801', opt: 'CALL_MONITOR' })
  await c.forcePickup({ leaderExtnum: '803', wokerExtnum: '801' })
  t.same(last('FORCE_PICKUP'), { leaderExtnum: '803', wokerExtnum: '801', opt: 'FORCE_PICKUP' })
  t.equal(s.exts.get('803')!.call?.phase, 'talking', 'the supervisor took the call')
  await c.forceHungup({ leaderExtnum: '803', wokerExtnum: '803' })
  t.same(last('FORCE_HUNGUP'), { leaderExtnum: '803', wokerExtnum: '803', opt: 'FORCE_HUNGUP' })
  t.equal(s.exts.get('803')!.call, null)

  s.incoming('801', '13700000000')
  await until(() => s.exts.get('801')!.call?.phase === 'talking', 2000, '801 talking')
  await c.callerToIvr({ caller: '13700000000', callee: '801', ivrid: 3 })
  t.same(last('TALKING_CALLER_TO_IVR'), { caller: '13700000000', callee: '801', ivrid: '3', opt: 'TALKING_CALLER_TO_IVR' })

  await c.setPresence({ extnum: '801', state: 'reducing' })
  t.same(last('SET_EXT_PRESENCE_STATE'), { extnum: '801', state: 'reducing', opt: 'SET_EXT_PRESENCE_STATE' })
  t.equal(s.exts.get('801')!.presence, 'reducing')

  await c.captchaCall({ id: 'cap-1', precallcount: 1, playtimes: 1, extnum: '801', callee: '13227841198', toneid: 19, code: '112233' })
  t.same(last('CLICK_TO_IP_CAPTCHA'), { id: 'cap-1', precallcount: '1', playtimes: '1', extnum: '801', callee: '13227841198', toneid: '19', code: '112233', pwd: 'no', opt: 'CLICK_TO_IP_CAPTCHA' })
  await c.captchaCall({ id: 'cap-2', callee: '13227841198', toneid: 19, line: 'fixed' })
  t.same(last('CLICK_TO_FIXEDLINE_CAPTCHA'), { id: 'cap-2', precallcount: '0', playtimes: '1', callee: '13227841198', toneid: '19', pwd: 'no', opt: 'CLICK_TO_FIXEDLINE_CAPTCHA' })
  t.match(await c.captchaResult('cap-1'), { state: /^(queued|calling)$/ })
  await until(() => s.tasks.get('cap-1')!.code === 1, 2000, 'captcha done')
  t.same(await c.captchaResult('cap-1'), { code: 1, state: 'succeeded', vars: {}, raw: '1' })
  t.equal((await c.captchaResult('nope')).state, 'no-such-id')

  await c.ivrTtsCall({ token: '0123456789', callee: '015919823610', toneid: 20, tts: { abc: '你好世界!' } })
  t.same(last('IVR_TTS_CALL'), { token: '0123456789', callee: '015919823610', toneid: '20', ttsabc: '你好世界!', opt: 'IVR_TTS_CALL' })
  t.same(await c.ivrTtsCallMonitor(), { queue: 0, playcount: s.tasks.get('0123456789')!.code === 4 ? 1 : 0 })
  await until(() => s.tasks.get('0123456789')!.code === 1, 2000, 'tts done')
  t.same(await c.ivrTtsCallResult('0123456789'), { code: 1, state: 'succeeded', vars: { satisfact: '8' }, raw: 'state=1;satisfact=8' })
  t.equal((await c.ivrTtsCallResult('nope')).state, 'no-such-id')
})

t.test('each documented status code of each opt becomes a typed refusal', async (t) => {
  const { sim: s, client: c } = await sim(t)
  const p = { caller: '801', callee: '802', extnum: '801', target: '802', leaderExtnum: '803', wokerExtnum: '801', conferenceid: '1', ivrid: 1 }
  const calls: Partial<Record<GuoxinOpt, () => Promise<unknown>>> = {
    CLICK_TO_IP_CAPTCHA: () => c.captchaCall({ id: 'x', callee: '1', toneid: 1 }),
    CLICK_TO_FIXEDLINE_CAPTCHA: () => c.captchaCall({ id: 'x', callee: '1', toneid: 1, line: 'fixed' }),
    CLICK_TO_TRANSFER: () => c.transfer(p),
    TALKING_CALLER_TO_IVR: () => c.callerToIvr(p),
    SET_EXT_PRESENCE_STATE: () => c.setPresence({ extnum: '801', state: 'busy' }),
    CONFERENCE_CREATE: () => c.conferenceCreate(p),
    CONFERENCE_JOIN: () => c.conferenceJoin(p),
    CALL_THIRD: () => c.callThird({ callee: '801', target: '802' }),
    CALL_THIRD_RESUME: () => c.callThirdResume(p),
    CALL_THIRD_CONFERENCE: () => c.callThirdConference(p),
    CALL_THIRD_TRANSFER: () => c.callThirdTransfer(p),
    CALL_THIRD_GET_THIRD_STATE: () => c.callThirdState(p),
    CALL_MONITOR: () => c.monitor(p),
    FORCE_PICKUP: () => c.forcePickup(p),
    FORCE_HUNGUP: () => c.forceHungup(p),
    IVR_TTS_CALL: () => c.ivrTtsCall({ token: 'x', callee: '1', toneid: 1 }),
    ContactsSrvlt: () => c.contactsCreate('{"contacts":[]}'),
    PreorderSrvlt: () => c.preorderCreate('{"preorder":[]}'),
    'ToneFileSvlt.delete': () => c.toneFileDelete(1),
  }
  let checked = 0
  for (const [opt, table] of Object.entries(OPT_CODES) as [GuoxinOpt, Record<number, { en: string; zh: string }>][]) {
    const call = calls[opt]
    t.ok(call, `a call for ${opt}`)
    if (!call) continue
    for (const [codeStr, meaning] of Object.entries(table)) {
      const code = Number(codeStr)
      s.failNext(opt, code)
      if (opt === 'CALL_THIRD_GET_THIRD_STATE' && [100, 180, 200, 603].includes(code)) {
        const r = (await call()) as { state: string; status: number }
        t.equal(r.status, code, `${opt} ${code} is a state`)
        t.equal(r.state, { 100: 'trying', 180: 'ringing', 200: 'answered', 603: 'busy' }[code])
      } else if (code === 200) {
        t.match(await call(), { opt, status: 200, meaning: { en: meaning.en } }, `${opt} 200`)
      } else {
        const err = await call().then(
          () => null,
          (e: unknown) => e,
        )
        t.type(err, GuoxinRefused, `${opt} ${code}`)
        t.match(err, { opt, status: code, meaning: { en: meaning.en, zh: meaning.zh, documented: true } })
      }
      checked++
    }
  }
  t.ok(checked > 70, `${checked} codes checked`)
  // fetch would repeat a request answered 421; this client sends it once
  s.failNext('CLICK_TO_IP_CAPTCHA', 421)
  const before = s.requestsFor('CLICK_TO_IP_CAPTCHA').length
  await t.rejects(c.captchaCall({ id: 'y', callee: '1', toneid: 1 }), { status: 421 })
  t.equal(s.requestsFor('CLICK_TO_IP_CAPTCHA').length, before + 1, 'a 421 is not repeated')
  // an undocumented code keeps its number and says so
  s.failNext('CLICK_TO_DIAL', 599)
  await t.rejects(c.clickToDial({ caller: '801', callee: '1' }), { status: 599, message: /not in the vendor's documentation/ })
})

t.test('GET_THIRD_STATE follows a consult: 100/180 status lines are read off the socket', async (t) => {
  const { sim: s, client: c } = await sim(t, { ringMs: 300 })
  s.incoming('801', '13700000000')
  await until(() => s.exts.get('801')!.call?.phase === 'talking', 2000, 'talking')
  await c.callThird({ callee: '801', target: '15900000000' })
  const first = await c.callThirdState({ callee: '801' })
  t.ok(['trying', 'ringing'].includes(first.state), first.state)
  await until(() => s.exts.get('801')!.call?.third?.phase === 'ringing', 2000, 'ringing')
  t.equal((await c.callThirdState({ callee: '801' })).state, 'ringing')
  await until(() => s.exts.get('801')!.call?.third?.phase === 'answered', 2000, 'answered')
  t.equal((await c.callThirdState({ callee: '801' })).state, 'answered')
  await c.callThirdResume({ callee: '801' })
  await t.rejects(c.callThirdState({ callee: '801' }), { status: 404, meaning: { zh: '无法找到 callee 相关的通话, 或者已经转话或创建三方' } })
})

t.test('Chinese text survives in GBK and UTF-8, with and without a charset in the answer', async (t) => {
  for (const encoding of ['gbk', 'utf-8'] as const) {
    for (const omitCharset of [false, true]) {
      const { sim: s, client: c } = await sim(t, { encoding, omitCharset })
      const names = (await c.extStates()).states.map((x) => x.userName)
      t.same(names, ['李阳', '张霞', '王芳'], `${encoding}${omitCharset ? ' (no charset)' : ''}`)
      await c.ivrTtsCall({ token: 'tk', callee: '1', toneid: 1, tts: { ttsname: '王先生，您的快递已到' } })
      t.equal(s.requestsFor('IVR_TTS_CALL')[0]!.params.ttsname, '王先生，您的快递已到')
      if (encoding === 'gbk') t.match(s.requestsFor('IVR_TTS_CALL')[0]!.rawQuery, /ttsname=%CD%F5/, 'GBK bytes on the wire')
      await s.stop()
    }
  }
})

t.test('call logs and recordings of finished calls', async (t) => {
  const { sim: s, client: c } = await sim(t)
  const call = s.incoming('802', '13700000000')!
  await until(() => s.exts.get('802')!.call?.phase === 'talking', 2000, 'talking')
  await c.clickToHangup({ caller: '802' })
  const today = new Date().toISOString().slice(0, 10)
  const { logs } = await c.callLogQuery({ beginDate: today, endDate: today, telnum: '802' })
  t.equal(logs.length, 1)
  t.match(logs[0], { caller: '13700000000', callee: '802', state: 'received', callid: call.id })
  t.same(s.requestsFor('CALL_LOG_QUERY')[0]!.params, { first: '0', maxResults: '1000', beginDate: today, endDate: today, telnum: '802', dirction: '0', opt: 'CALL_LOG_QUERY' })
  t.match(await c.callLogByCallId(call.id), { id: logs[0]!.id })
  t.equal(await c.callLogByCallId('nope@1'), null)
  await t.rejects(c.callLogQuery({ beginDate: '2016/03/01', endDate: today }), RangeError)
  const rec = await c.openRecording(call.id)
  t.equal(rec.status, 200)
  t.equal(rec.headers['content-type'], 'audio/x-wav')
  const chunks: Buffer[] = []
  for await (const c of rec.body) chunks.push(c as Buffer)
  const bytes = Buffer.concat(chunks)
  t.equal(bytes.subarray(0, 4).toString(), 'RIFF')
  const none = await c.openRecording('nope@1')
  t.equal(none.status, 404)
  none.body.destroy()
})

t.test('transport failures are typed; queries are retried, control calls are not', async (t) => {
  const { sim: s, client: c } = await sim(t)
  s.silent = true
  const quick = new GuoxinClient({ url: s.url, timeoutMs: 100, retryBaseMs: 10 })
  await t.rejects(quick.clickToDial({ caller: '801', callee: '1' }), HttpTimeoutError)
  t.equal(s.requestsFor('CLICK_TO_DIAL').length, 1, 'a control call is sent once')
  await t.rejects(quick.extStates(), HttpTimeoutError)
  t.equal(s.requests.filter((r) => r.path === '/bridge/jsoncfg').length, 2, 'a query is tried twice')
  await t.rejects(quick.callThirdState({ callee: '801' }), HttpTimeoutError)
  s.silent = false
  const url = s.url
  await s.stop()
  const dead = new GuoxinClient({ url, timeoutMs: 500, retryBaseMs: 10 })
  await t.rejects(dead.setPresence({ extnum: '801', state: 'busy' }), HttpUnreachableError)
  await t.rejects(dead.callThirdState({ callee: '801' }), HttpUnreachableError)
  void c
})
