import t from 'tap'
import { createServer, type IncomingMessage } from 'node:http'
import iconv from 'iconv-lite'
import { parseWav } from '../protocols/wav/index.js'
import type { YantongSimulator } from '../daemon/vendors/yantong/simulator.js'
import { daemonRig, postJson, startYantong } from './helpers/rig.js'
import { getJson, until } from './helpers/sse.js'

/** Seed 004's functions and their fields, in the seed's order and spelling (the API must match them one to one). */
const SEED_FIELDS: Record<string, string[]> = {
  SendDial: ['staffid', 'phonenum', 'codeid_1', 'codeid_2'],
  ExtenStatus: ['staffid'],
  GetCDRList: ['staffid', 'exten', 'codeid_1', 'codeid_2', 'phonenum', 'begintime', 'endtime', 'PId', 'Limit', 'Sort'],
  GetRecord: ['uniqueid'],
  ExtenSpy: ['staffid', 'spystaffid', 'spytype'],
  AddCBaseData: ['staffid', 'phonenum', 'name', 'address', 'email', 'comment'],
  AddTaskData: ['batchid', 'phonenum', 'name', 'address', 'email', 'comment'],
  GetUserInfo: ['staffid'],
}

interface Rig {
  sim: YantongSimulator
  api: string
  act(name: string, body: unknown): Promise<{ status: number; body: any }>
}

async function rig(t: Tap.Test, source: Record<string, unknown> = {}): Promise<Rig> {
  const { sim } = await startYantong({ staff: ['8001', '8002', '8003'], ringMs: 30, talkMs: 0 }, t)
  const d = await daemonRig(
    {
      timeZone: 'Asia/Shanghai',
      sources: [{ id: 'yt', type: 'yantong', url: sim.url, companyid: 8, auth: 'yantong-demo', staff: ['8001', '8002', '8003'], pollMs: 40, timeoutMs: 2000, cdrPollMs: 0, ...source }],
    },
    { t },
  )
  await until(() => d.daemon.sources.get('yt')!.status === 'connected', 3000, 'connected')
  return { sim, api: d.api, act: (name, body) => postJson(`${d.api}/v1/sources/yt/actions/${name}`, body) }
}

async function talking(r: Rig, staff: string, phone = '13900000001'): Promise<void> {
  const d = await postJson(`${r.api}/v1/calls`, { source: 'yt', agent: staff, phone })
  if (d.status !== 202) throw new Error(`dial: ${d.status} ${JSON.stringify(d.body)}`)
  await until(() => r.sim.lines.get(staff)!.status === 1, 3000, `${staff} talking`)
}

t.test('GET …/actions lists every seed 004 function the common routes do not cover, with the seed field names', async (t) => {
  const r = await rig(t)
  const { status, body } = await getJson(`${r.api}/v1/sources/yt/actions`)
  t.equal(status, 200)
  t.equal(body.type, 'yantong')
  const got = Object.fromEntries(body.actions.map((a: any) => [a.name, a.params.map((p: any) => p.name)]))
  t.same(got, SEED_FIELDS, 'names and fields exactly as seed 004 writes them')
  t.same(Object.fromEntries(body.actions.map((a: any) => [a.name, a.kind])), {
    SendDial: 'control',
    ExtenStatus: 'query',
    GetCDRList: 'query',
    GetRecord: 'query',
    ExtenSpy: 'control',
    AddCBaseData: 'control',
    AddTaskData: 'control',
    GetUserInfo: 'query',
  })
  // the seed's starred (required) fields
  const required = Object.fromEntries(body.actions.map((a: any) => [a.name, a.params.filter((p: any) => p.required).map((p: any) => p.name)]))
  t.same(required, {
    SendDial: ['staffid', 'phonenum'],
    ExtenStatus: ['staffid'],
    GetCDRList: [],
    GetRecord: ['uniqueid'],
    ExtenSpy: ['staffid', 'spystaffid', 'spytype'],
    AddCBaseData: ['staffid', 'phonenum'],
    AddTaskData: ['batchid', 'phonenum'],
    GetUserInfo: [],
  })
  for (const a of body.actions) for (const p of a.params) t.ok(p.description && !p.description.includes('\n'), `${a.name}.${p.name} has a one-line description`)
  t.match(body.actions.find((a: any) => a.name === 'ExtenSpy').params[2], { enum: [1, 2, 3] })
  const none = await r.act('HangUp', { staffid: '8001' })
  t.equal(none.status, 404, 'HangUp is the common route')
  t.match(none.body.error, { code: 'NOT_FOUND', known: Object.keys(SEED_FIELDS) })
})

t.test('every action reaches the simulator with the seed fields and its answer decodes', async (t) => {
  const r = await rig(t)
  // SendDial with both tags (the common dial has no codeid_2)
  const dial = await r.act('SendDial', { staffid: '8001', phonenum: '15721266104', codeid_1: 'shop-3', codeid_2: 'g2' })
  t.equal(dial.status, 200)
  t.match(dial.body, { source: 'yt', action: 'SendDial', result: null, vendor: { errno: 1, message: '成功' }, requestId: String })
  t.same(r.sim.sent('SendDial')[0]!.params, { action: 'SendDial', companyid: '8', auth: 'yantong-demo', staffid: '8001', phonenum: '15721266104', codeid_1: 'shop-3', codeid_2: 'g2' })
  await until(() => r.sim.lines.get('8001')!.status === 1, 3000, 'talking')

  const st = await r.act('ExtenStatus', { staffid: 8001 })
  t.equal(st.status, 200)
  t.same(st.body.result, { Status: 1, statusText: '通话中', Extension: '8001', CallerNum: '15721266104', state: 'talking', presence: null, callWaiting: false })
  t.same(r.sim.sent('ExtenStatus').at(-1)!.params, { action: 'ExtenStatus', companyid: '8', auth: 'yantong-demo', staffid: '8001' })

  // ExtenSpy: all three spy types, sent as the seed's integers
  for (const spytype of [1, 2, 3]) {
    const n = r.sim.sent('ExtenSpy').length
    const spy = await r.act('ExtenSpy', { staffid: '8003', spystaffid: '8001', spytype })
    t.equal(spy.status, 200, `spytype ${spytype}`)
    t.same(r.sim.sent('ExtenSpy')[n]!.params, { action: 'ExtenSpy', companyid: '8', auth: 'yantong-demo', staffid: '8003', spystaffid: '8001', spytype: String(spytype) })
  }
  t.same(
    r.sim.sent('ExtenSpy').map((q) => q.params.spytype),
    ['1', '2', '3'],
  )
  // the vendor refuses spying on an idle line: 502 with its errno and message
  const idle = await r.act('ExtenSpy', { staffid: '8003', spystaffid: '8002', spytype: '2' })
  t.equal(idle.status, 502)
  t.match(idle.body.error, { code: 'VENDOR_REFUSED', vendor: { code: 0, message: '被监听者不在通话中' } })
  const badType = await r.act('ExtenSpy', { staffid: '8003', spystaffid: '8001', spytype: 4 })
  t.equal(badType.status, 400)
  t.match(badType.body.error, { field: 'spytype' })

  t.equal((await postJson(`${r.api}/v1/calls/hangup`, { source: 'yt', agent: '8001' })).status, 202)
  await until(() => r.sim.cdrs.length === 1, 3000, 'record written')
  const cdr = r.sim.cdrs[0]!

  const list = await r.act('GetCDRList', { staffid: '8001', codeid_2: 'g2', Limit: 5 })
  t.equal(list.status, 200)
  t.same(r.sim.sent('GetCDRList')[0]!.params, { action: 'GetCDRList', companyid: '8', auth: 'yantong-demo', staffid: '8001', codeid_2: 'g2', Limit: '5' })
  t.match(list.body.result, { count: 1, nextPId: null, invalid: [] })
  t.match(list.body.result.records[0], {
    source: 'yt',
    id: Number(cdr.id),
    uniqueId: cdr.uniqueid,
    staff: '8001',
    dst: '15721266104',
    codeid1: 'shop-3',
    codeid2: 'g2',
    disposition: 'ANSWERED',
    direction: 'outbound',
    startedAt: /\+08:00$/,
  })

  const rec = await r.act('GetRecord', { uniqueid: cdr.uniqueid })
  t.equal(rec.status, 200)
  t.same(rec.body.result, { uniqueid: cdr.uniqueid, paths: [r.sim.recordings.get(cdr.uniqueid)], recording: `/v1/sources/yt/recordings/${cdr.uniqueid}` })
  t.same(r.sim.sent('GetRecord')[0]!.params, { action: 'GetRecord', companyid: '8', auth: 'yantong-demo', uniqueid: cdr.uniqueid })
  const noRec = await r.act('GetRecord', { uniqueid: '1.999' })
  t.equal(noRec.status, 502)
  t.match(noRec.body.error, { vendor: { code: 0, message: '录音不存在' } })

  const add = await r.act('AddCBaseData', { staffid: '8002', phonenum: '13800000000', name: '王芳', address: '南京市', email: 'w@example.com', comment: '回访' })
  t.equal(add.status, 200)
  t.same(r.sim.sent('AddCBaseData')[0]!.params, {
    action: 'AddCBaseData',
    companyid: '8',
    auth: 'yantong-demo',
    staffid: '8002',
    phonenum: '13800000000',
    name: '王芳',
    address: '南京市',
    email: 'w@example.com',
    comment: '回访',
  })
  const dup = await r.act('AddCBaseData', { staffid: '8002', phonenum: '13800000000' })
  t.equal(dup.status, 502)
  t.match(dup.body.error, { code: 'VENDOR_REFUSED', vendor: { code: 10, message: '数据重复' } })
  t.equal(r.sim.sent('AddCBaseData').length, 2, 'a refused control is not repeated')

  const task = await r.act('AddTaskData', { batchid: '1001', phonenum: '13800000001', name: '李娜' })
  t.equal(task.status, 200)
  t.same(r.sim.sent('AddTaskData')[0]!.params, { action: 'AddTaskData', companyid: '8', auth: 'yantong-demo', batchid: '1001', phonenum: '13800000001', name: '李娜' })
  const noBatch = await r.act('AddTaskData', { batchid: '999', phonenum: '13800000001' })
  t.match(noBatch, { status: 502, body: { error: { vendor: { code: 11, message: '任务批次不存在' } } } })

  const users = await r.act('GetUserInfo', {})
  t.equal(users.status, 200)
  t.same(
    users.body.result.users.map((u: any) => u.staffId),
    ['8001', '8002', '8003'],
  )
  t.notOk('staffid' in r.sim.sent('GetUserInfo').at(-1)!.params, 'an absent field is not sent')
  const one = await r.act('GetUserInfo', { staffid: '8002' })
  t.match(one.body.result.users, [{ staffId: '8002', userName: '8002', trueName: String, departmentName: '部门一' }])
  t.equal(one.body.result.users.length, 1)

  // fields are checked before anything is sent
  const asked = () => r.sim.requests.filter((q) => q.action !== 'ExtenStatus').length
  const n = asked()
  t.match(await r.act('GetCDRList', { begintime: '2017/04/11' }), { status: 400, body: { error: { field: 'begintime' } } })
  t.match(await r.act('GetCDRList', { Sort: 'up' }), { status: 400, body: { error: { field: 'Sort' } } })
  t.match(await r.act('GetCDRList', { Limit: 0 }), { status: 400, body: { error: { field: 'Limit' } } })
  t.match(await r.act('SendDial', { staffid: '8001', phonenum: '139;rm' }), { status: 400, body: { error: { field: 'phonenum' } } })
  t.match(await r.act('AddCBaseData', { staffid: '8001', phonenum: '1', name: 'a\u0000b' }), { status: 400, body: { error: { field: 'name' } } })
  t.match(await r.act('AddTaskData', { phonenum: '1' }), { status: 400, body: { error: { field: 'batchid' } } })
  t.match(await r.act('GetRecord', { uniqueid: '../x' }), { status: 400, body: { error: { field: 'uniqueid' } } })
  t.match(await r.act('ExtenStatus', { staffid: '8001', exten: '8001' }), { status: 400, body: { error: { field: 'exten' } } })
  t.equal(asked(), n, 'nothing but polls reached the vendor')
})

t.test('GetCDRList pages with Sort ASC and PId; DESC is the newest first, without a next page', async (t) => {
  const r = await rig(t)
  for (let i = 0; i < 45; i++) r.sim.addCdr({ dst: String(13900000000 + i) })
  const first = Number(r.sim.cdrs[0]!.id)
  const ids: number[] = []
  let PId: number | null = 0
  const asked: string[] = []
  while (PId !== null) {
    const page = await r.act('GetCDRList', { Sort: 'ASC', Limit: 20, PId })
    t.equal(page.status, 200)
    asked.push(String(PId))
    ids.push(...page.body.result.records.map((x: any) => x.id))
    PId = page.body.result.nextPId
  }
  t.same(
    ids,
    Array.from({ length: 45 }, (_, i) => first + i),
    'every record once, in order',
  )
  t.same(asked, ['0', String(first + 19), String(first + 39)])
  t.same(
    r.sim.sent('GetCDRList').map((q) => [q.params.PId, q.params.Limit, q.params.Sort]),
    asked.map((p) => [p, '20', 'ASC']),
  )
  // a full last page has a next one, which comes back empty
  const exact = await r.act('GetCDRList', { Sort: 'ASC', Limit: 5, PId: first + 39 })
  t.equal(exact.body.result.nextPId, first + 44)
  const after = await r.act('GetCDRList', { Sort: 'ASC', Limit: 5, PId: first + 44 })
  t.match(after.body.result, { records: [], count: 0, nextPId: null })
  // the vendor's default order: newest first, 20 of them; PId cannot page backwards, so no nextPId
  const desc = await r.act('GetCDRList', {})
  t.same(desc.body.result.records.map((x: any) => x.id).slice(0, 3), [first + 44, first + 43, first + 42])
  t.equal(desc.body.result.count, 20)
  t.equal(desc.body.result.nextPId, null)
  t.same(Object.keys(r.sim.sent('GetCDRList').at(-1)!.params).sort(), ['action', 'auth', 'companyid'], 'nothing the caller did not give')
})

/** A fake Yantong server that records every request as bytes and answers as told. */
async function capture(t: Tap.Test, answer: (action: string) => { body: Buffer | string; type?: string } | null) {
  const all: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('latin1')
      all.push({ method: req.method!, url: req.url!, headers: req.headers, body })
      const action = /(?:^|[?&])action=([^&]*)/.exec(req.method === 'GET' ? (req.url!.split('?')[1] ?? '') : body)?.[1] ?? ''
      const a = answer(action)
      if (!a) return // silent: held until the server closes
      res.writeHead(200, { 'content-type': a.type ?? 'text/html; charset=utf-8' }).end(a.body)
    })
  })
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((res) => server.close(() => res()))
  })
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/api`,
    /** what arrived but the ExtenStatus polls (and the poll a control triggers), which are not under test */
    get got() {
      return all.filter((g) => !/action=ExtenStatus/.test(g.url + g.body))
    },
    clear: () => void (all.length = 0),
  }
}

const OK = '{"errno":"1","message":"\\u6210\\u529f","data":[]}'
const STATUS = '{"errno":"1","message":"\\u6210\\u529f","data":{"Status":0,"Extension":8001,"CallerNum":""}}'

t.test('exact on the wire: GBK form bodies, UTF-8 query strings, a GBK refusal decoded', async (t) => {
  const fake = await capture(t, (action) =>
    action === 'ExtenStatus'
      ? { body: STATUS }
      : action === 'AddTaskData'
        ? { body: iconv.encode('{"errno":"9","message":"数据插入失败","data":[]}', 'gbk'), type: 'text/html; charset=GBK' }
        : { body: OK },
  )
  const d = await daemonRig(
    {
      sources: [
        { id: 'gbk', type: 'yantong', url: fake.url, companyid: 8, auth: 'k&y', staff: ['8001'], pollMs: 60_000, cdrPollMs: 0, charset: 'gbk' },
        { id: 'get', type: 'yantong', url: fake.url, companyid: 8, auth: 'k', staff: ['8001'], pollMs: 60_000, cdrPollMs: 0, method: 'GET' },
      ],
    },
    { t },
  )
  await until(() => d.daemon.sources.get('gbk')!.status === 'connected' && d.daemon.sources.get('get')!.status === 'connected', 3000, 'connected')
  fake.clear()
  const a = await postJson(`${d.api}/v1/sources/gbk/actions/AddCBaseData`, { staffid: '8001', phonenum: '13900000000', name: '张伟', address: '上海市 浦东', comment: 'a+b=c' })
  t.equal(a.status, 200)
  t.equal(fake.got[0]!.method, 'POST')
  t.equal(fake.got[0]!.headers['content-type'], 'application/x-www-form-urlencoded; charset=GBK')
  // 张 D5C5 伟 CEB0, 上 C9CF 海 BAA3 市 CAD0 浦 C6D6 东 B6AB; form encoding: space as +, & + = escaped
  t.equal(fake.got[0]!.body, 'action=AddCBaseData&companyid=8&auth=k%26y&staffid=8001&phonenum=13900000000&name=%D5%C5%CE%B0&address=%C9%CF%BA%A3%CA%D0+%C6%D6%B6%AB&comment=a%2Bb%3Dc')
  const spy = await postJson(`${d.api}/v1/sources/get/actions/ExtenSpy`, { staffid: '8003', spystaffid: '8001', spytype: '3' })
  t.equal(spy.status, 200)
  t.equal(fake.got[1]!.method, 'GET')
  t.equal(fake.got[1]!.url, '/api?action=ExtenSpy&companyid=8&auth=k&staffid=8003&spystaffid=8001&spytype=3')
  await postJson(`${d.api}/v1/sources/get/actions/AddTaskData`, { batchid: 'B-7', phonenum: '13900000000', name: '张伟' }).then((r) => {
    t.equal(r.status, 502)
    t.match(r.body.error, { code: 'VENDOR_REFUSED', vendor: { code: 9, message: '数据插入失败' } })
  })
  t.equal(fake.got[2]!.url, '/api?action=AddTaskData&companyid=8&auth=k&batchid=B-7&phonenum=13900000000&name=%E5%BC%A0%E4%BC%9F')
  const cdr = await postJson(`${d.api}/v1/sources/get/actions/GetCDRList`, { begintime: '2017-04-11 20:35:17', endtime: '2017-04-12 00:00:00', PId: '46470', Sort: 'ASC' })
  t.equal(cdr.status, 200)
  t.equal(fake.got[3]!.url, '/api?action=GetCDRList&companyid=8&auth=k&begintime=2017-04-11+20%3A35%3A17&endtime=2017-04-12+00%3A00%3A00&PId=46470&Sort=ASC')
  t.match(cdr.body.result, { records: [], count: 0, nextPId: null })
})

t.test('a silent vendor: a control is sent once and is a 504; a query is asked three times, then 504', async (t) => {
  const fake = await capture(t, (action) => (action === 'ExtenStatus' ? { body: STATUS } : null))
  const d = await daemonRig({ sources: [{ id: 'yt', type: 'yantong', url: fake.url, companyid: 8, auth: 'k', staff: ['8001'], pollMs: 60_000, cdrPollMs: 0, timeoutMs: 400 }] }, { t })
  await until(() => d.daemon.sources.get('yt')!.status === 'connected', 3000, 'connected')
  const spy = await postJson(`${d.api}/v1/sources/yt/actions/ExtenSpy`, { staffid: '8003', spystaffid: '8001', spytype: 2 })
  t.equal(spy.status, 504)
  t.match(spy.body.error, { code: 'VENDOR_TIMEOUT', source: 'yt' })
  t.equal(fake.got.filter((g) => g.body.includes('action=ExtenSpy')).length, 1, 'a control goes out once')
  const q = await postJson(`${d.api}/v1/sources/yt/actions/GetUserInfo`, { staffid: '8001' })
  t.equal(q.status, 504)
  t.equal(fake.got.filter((g) => g.body.includes('action=GetUserInfo')).length, 3, 'a query is asked three times')
})

t.test('recordings: GET /v1/sources/:id/recordings/:uniqueid fetches the GetRecord path and passes Range on', async (t) => {
  const r = await rig(t)
  await talking(r, '8001', '15721266104')
  t.equal((await postJson(`${r.api}/v1/calls/hangup`, { source: 'yt', agent: '8001' })).status, 202)
  await until(() => r.sim.cdrs.length === 1, 3000, 'record written')
  const uniqueid = r.sim.cdrs[0]!.uniqueid
  const path = r.sim.recordings.get(uniqueid)!
  const url = `${r.api}/v1/sources/yt/recordings/${uniqueid}`

  const whole = await fetch(url)
  t.equal(whole.status, 200)
  t.equal(whole.headers.get('content-type'), 'audio/x-wav')
  t.equal(whole.headers.get('accept-ranges'), 'bytes')
  const bytes = Buffer.from(await whole.arrayBuffer())
  t.equal(parseWav(bytes).sampleRate, 8000, 'a whole WAV')
  t.equal(whole.headers.get('content-length'), String(bytes.length))
  t.same(r.sim.sent('GetRecord').at(-1)!.params, { action: 'GetRecord', companyid: '8', auth: 'yantong-demo', uniqueid })
  t.match(r.sim.sent('file').at(-1)!.params, { path, range: '' })

  const head = await fetch(url, { headers: { range: 'bytes=0-43' } })
  t.equal(head.status, 206)
  t.equal(head.headers.get('content-range'), `bytes 0-43/${bytes.length}`)
  const h = Buffer.from(await head.arrayBuffer())
  t.same(h, bytes.subarray(0, 44))
  t.equal(h.subarray(0, 4).toString(), 'RIFF')
  t.equal(r.sim.sent('file').at(-1)!.params.range, 'bytes=0-43', 'the Range went to the vendor as asked')
  const tail = await fetch(url, { headers: { range: 'bytes=-100' } })
  t.equal(tail.status, 206)
  t.same(Buffer.from(await tail.arrayBuffer()), bytes.subarray(bytes.length - 100))
  const past = await fetch(url, { headers: { range: `bytes=${bytes.length}-` } })
  t.equal(past.status, 416)
  t.match(await past.json(), { error: { code: 'RANGE_NOT_SATISFIABLE' } })

  // a ref that is no uniqueid is refused before anything is sent
  const n = r.sim.sent('GetRecord').length
  for (const bad of ['a%20b', '..%2Fetc', 'x'.repeat(65)]) {
    const b = await getJson(`${r.api}/v1/sources/yt/recordings/${bad}`)
    t.equal(b.status, 400, bad)
    t.match(b.body.error, { code: 'BAD_REQUEST', field: 'callid', message: /^bad request: callid: / })
  }
  t.equal(r.sim.sent('GetRecord').length, n)
  // the vendor knows no such call: its errno and message
  const unknown = await getJson(`${r.api}/v1/sources/yt/recordings/1.999`)
  t.equal(unknown.status, 502)
  t.match(unknown.body.error, { code: 'VENDOR_REFUSED', vendor: { code: 0, message: '录音不存在' } })
  // GetRecord names a file the web server does not have
  r.sim.recordings.set('2.1', '/asterisk_file/2016-01-04/gone.wav')
  t.equal((await getJson(`${r.api}/v1/sources/yt/recordings/2.1`)).status, 404)
  // a path in Chinese is percent-encoded as UTF-8 on the way to the vendor
  r.sim.recordings.set('2.2', '/asterisk_file/2016-01-04/录音 1.wav')
  r.sim.files.set('/asterisk_file/2016-01-04/录音 1.wav', Buffer.from('RIFF-test'))
  const zh = await fetch(`${r.api}/v1/sources/yt/recordings/2.2`)
  t.equal(zh.status, 200)
  t.equal(await zh.text(), 'RIFF-test')
  // an answer pointing at another server is not followed
  r.sim.recordings.set('2.3', 'http://169.254.169.254/latest/meta-data')
  const away = await getJson(`${r.api}/v1/sources/yt/recordings/2.3`)
  t.equal(away.status, 502)
  t.match(away.body.error, { code: 'VENDOR_REFUSED', vendor: { code: 'BAD_ANSWER', message: /another server/ } })
  t.equal(r.sim.sent('file').filter((q) => q.params.path.includes('meta-data')).length, 0)
  // the same server's whole URL is fine
  r.sim.recordings.set('2.4', `${r.sim.url.replace(/\/api$/, '')}/asterisk_file/2016-01-04/录音 1.wav`)
  t.equal((await fetch(`${r.api}/v1/sources/yt/recordings/2.4`)).status, 200)
})

t.test('recordings: recordingUrl puts the files on another server; a silent vendor is a 504', async (t) => {
  const files = await capture(t, () => ({ body: 'RIFFdata', type: 'audio/x-wav' }))
  const base = files.url.replace(/\/api$/, '/rec')
  const r = await rig(t, { recordingUrl: base, pollMs: 60_000, timeoutMs: 300, queryAttempts: 1 })
  r.sim.recordings.set('3.1', '/asterisk_file/2016-01-04/a.wav')
  const res = await fetch(`${r.api}/v1/sources/yt/recordings/3.1`, { headers: { range: 'bytes=2-' } })
  t.equal(res.status, 200)
  t.equal(await res.text(), 'RIFFdata')
  t.equal(files.got[0]!.url, '/rec/asterisk_file/2016-01-04/a.wav')
  t.equal(files.got[0]!.headers.range, 'bytes=2-')
  r.sim.silent = true
  const late = await getJson(`${r.api}/v1/sources/yt/recordings/3.1`)
  t.equal(late.status, 504)
  t.match(late.body.error, { code: 'VENDOR_TIMEOUT' })
})
