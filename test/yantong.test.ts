import t from 'tap'
import { createServer } from 'node:http'
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import iconv from 'iconv-lite'
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { YantongSimulator } from '../daemon/vendors/yantong/simulator.js'
import { mapExtenStatus } from '../daemon/vendors/yantong/source.js'
import { splits } from '../protocols/testing/chunks.js'
import { daemonRig, startYantong } from './helpers/rig.js'
import {
  YantongClient,
  YantongError,
  YantongFormatError,
  decodeBody,
  encodeParams,
  expectOk,
  parseAnswer,
  parseCdrList,
  parseExtenStatus,
  parseRecord,
  parseUserInfo,
} from '../protocols/yantong/index.js'
import { SseReader, getJson, until } from './helpers/sse.js'

const quiet = () => pino({ level: process.env.TB_TEST_LOG ?? 'silent' })

// ---- the seed's examples (comments removed, otherwise byte for byte) ------------------------------

const SEED_EXTEN = `{"errno":"1","message":"成功",
"data":{"Status":8,
"Extension":1001,
"CallerNum":13888888888
}}`

const SEED_CDR = `{"errno":"1","message":"\\u6210\\u529f","data":[{
"id":"46470",
"src":"88851977744",
"dst":"15721266104",
"calldate":"2016-01-05 12:12:25",
"duration_int":"12",
"billsec_int":"2",
"disposition":"ANSWERED",
"customerid":"1318096",
"companyid":"8",
"ClassifId":"3",
"ProjectId":"3",
"staffid":"8001",
"exten":"8001",
"codeid_1":"",
"codeid_2":"",
"uniqueid":"",
"calltype":"0"
}]}`

const SEED_RECORD = `{"errno":"1","message":"\\u6210\\u529f",
"data":[{
"path":"\\/asterisk_file\\/2016-01-04\\/20160104152443_8001_15721266104.wav"
}]}`

const SEED_USER = `{"errno":"1",
"message":"\\u6210\\u529f",
"data":
[{
"UserName":"1001",
"TrueName":"\\u9648\\u6d9b",
"RoleName":"\\u90e8\\u95e8\\u7ecf\\u7406",
"Identity":"\\u90e8\\u95e8\\u7ecf\\u7406",
"DepartmentName":"\\u90e8\\u95e8\\u4e00",
"Phone":"15956952910","StaffId":"1001",
"UpdateTime":"2016-07-18 16:30:10",
"CreateTime":"2016-07-18 14:51:22"
}]
}`

t.test("the seed's JSON examples parse to the expected objects", async (t) => {
  const a = expectOk('ExtenStatus', SEED_EXTEN)
  t.same(a.errno, 1)
  t.equal(a.message, '成功')
  t.same(parseExtenStatus('ExtenStatus', a.data), { status: 8, statusText: '振铃', extension: '1001', callerNum: '13888888888' })

  const cdr = parseCdrList('GetCDRList', expectOk('GetCDRList', SEED_CDR).data)
  t.same(cdr.invalid, [])
  t.same(cdr.records, [
    {
      id: 46470,
      src: '88851977744',
      dst: '15721266104',
      calldate: '2016-01-05 12:12:25',
      durationSeconds: 12,
      billSeconds: 2,
      disposition: 'ANSWERED',
      customerId: '1318096',
      companyId: '8',
      classifId: '3',
      projectId: '3',
      staffId: '8001',
      exten: '8001',
      codeid1: null,
      codeid2: null,
      uniqueId: null,
      callType: 'outbound',
      callTypeCode: '0',
    },
  ])
  t.equal(expectOk('GetCDRList', SEED_CDR).message, '成功', '\\u escapes decode')

  t.same(parseRecord('GetRecord', expectOk('GetRecord', SEED_RECORD).data), ['/asterisk_file/2016-01-04/20160104152443_8001_15721266104.wav'])

  t.same(parseUserInfo('GetUserInfo', expectOk('GetUserInfo', SEED_USER).data), [
    {
      userName: '1001',
      trueName: '陈涛',
      roleName: '部门经理',
      identity: '部门经理',
      departmentName: '部门一',
      phone: '15956952910',
      staffId: '1001',
      updateTime: '2016-07-18 16:30:10',
      createTime: '2016-07-18 14:51:22',
    },
  ])
})

t.test('every errno of the seed becomes a typed error with its code and message', async (t) => {
  for (const [errno, text] of [
    [0, '失败'],
    [2, '缺少必要参数'],
    [3, '认证失败'],
    [4, '接口不存在'],
    [5, '工号未登录'],
    [6, '分机未注册'],
    [7, '坐席分机未登录'],
    [8, '坐席分机未注册'],
    [9, '数据插入失败'],
    [10, '数据重复'],
    [11, '任务批次不存在'],
  ] as const) {
    const e = t.throws(() => expectOk('SendDial', `{"errno":"${errno}","message":"${text}","data":[]}`)) as YantongError
    t.ok(e instanceof YantongError)
    t.equal(e.errno, errno)
    t.equal(e.vendorMessage, text)
    // without a message the seed's own word is used
    t.equal((t.throws(() => expectOk('SendDial', `{"errno":${errno}}`)) as YantongError).vendorMessage, text)
  }
})

t.test('answers in other shapes are format errors, not crashes', async (t) => {
  for (const bad of ['', '<html>500</html>', '[]', '"1"', '{"message":"x"}', '{"errno":"abc"}', '{"errno":1.5}', '{"errno":"1"', 'null']) {
    const e = t.throws(() => parseAnswer('HangUp', bad)) as Error
    t.ok(e instanceof YantongFormatError, JSON.stringify(bad))
  }
  t.throws(() => parseExtenStatus('ExtenStatus', { Extension: 1 }), YantongFormatError)
  t.throws(() => parseExtenStatus('ExtenStatus', null), YantongFormatError)
  t.throws(() => parseCdrList('GetCDRList', { id: 1 }), YantongFormatError)
  t.throws(() => parseRecord('GetRecord', [{ nopath: 1 }]), YantongFormatError)
  // one broken record does not lose the page
  const page = parseCdrList('GetCDRList', [{ id: '5' }, { id: 'x' }, 'str', { id: 7, calltype: 1, disposition: 'busy' }])
  t.same(
    page.records.map((r) => r.id),
    [5, 7],
  )
  t.same(
    page.invalid.map((i) => i.index),
    [1, 2],
  )
  t.equal(page.records[1]!.callType, 'inbound')
  t.equal(page.records[1]!.disposition, 'BUSY')
  t.same(parseCdrList('GetCDRList', null), { records: [], invalid: [] })
  t.same(parseCdrList('GetCDRList', ''), { records: [], invalid: [] })
})

t.test('digit strings sent as bare JSON numbers keep every digit', async (t) => {
  const a = parseAnswer('ExtenStatus', '{"errno":1,"data":{"Status":"1","Extension":8001,"CallerNum":98765432109876543210}}')
  t.same(parseExtenStatus('ExtenStatus', a.data), { status: 1, statusText: '通话中', extension: '8001', callerNum: '98765432109876543210' })
  // the same key inside a string value is left alone
  const b = parseAnswer('X', '{"errno":1,"message":"\\"CallerNum\\":123","data":{"Status":0,"CallerNum":""}}')
  t.equal(b.message, '"CallerNum":123')
})

t.test('bodies: UTF-8, GBK by charset, GBK without a charset, BOM', async (t) => {
  const json = '{"errno":"0","message":"工号未登录"}'
  t.equal(parseAnswer('x', decodeBody(Buffer.from(json))).message, '工号未登录')
  t.equal(parseAnswer('x', decodeBody(iconv.encode(json, 'gbk'), 'text/html; charset=GBK')).message, '工号未登录')
  t.equal(parseAnswer('x', decodeBody(iconv.encode(json, 'gbk'), 'text/html')).message, '工号未登录')
  t.equal(parseAnswer('x', decodeBody(Buffer.from('\uFEFF' + json))).message, '工号未登录')
})

t.test('form encoding: UTF-8 and GBK percent bytes', async (t) => {
  t.equal(encodeParams({ action: 'AddCBaseData', name: '王芳 A', skip: undefined, n: 8 }), 'action=AddCBaseData&name=%E7%8E%8B%E8%8A%B3+A&n=8')
  t.equal(encodeParams({ name: '王芳 A' }, 'gbk'), 'name=%CD%F5%B7%BC+A')
})

t.test('status codes map to states; nothing unknown looks idle', async (t) => {
  t.same(mapExtenStatus(-1), { state: 'offline', presence: null })
  t.same(mapExtenStatus(0), { state: 'idle', presence: null })
  t.same(mapExtenStatus(1), { state: 'talking', presence: null })
  t.same(mapExtenStatus(2), { state: 'talking', presence: null })
  t.same(mapExtenStatus(4), { state: 'offline', presence: null })
  t.same(mapExtenStatus(8), { state: 'ringing', presence: null })
  // issue 11: 9 is Asterisk's in use + ringing (call waiting), not a plain ring
  t.same(mapExtenStatus(9), { state: 'talking', presence: null, callWaiting: true })
  t.same(mapExtenStatus(16), { state: 'held', presence: null })
  t.same(mapExtenStatus(18), { state: 'idle', presence: 'break' })
  t.same(mapExtenStatus(19), { state: 'idle', presence: 'busy' })
  for (const c of [3, 5, 7, 17, 99, -2]) t.equal(mapExtenStatus(c).state, 'unknown')
})

t.test('the client reads an answer however TCP splits it (real HTTP, every boundary)', async (t) => {
  const body = iconv.encode('{"errno":"5","message":"工号未登录","data":[]}', 'gbk')
  let chunks: Buffer[] = []
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=gbk', 'content-length': body.length })
    const parts = chunks
    let i = 0
    const next = () => {
      const c = parts[i++]
      if (!c) return res.end()
      res.write(c, () => setImmediate(next))
    }
    next()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => server.close())
  const port = (server.address() as { port: number }).port
  const client = new YantongClient({ url: `http://127.0.0.1:${port}/api`, companyid: 8, auth: 'a' })
  let n = 0
  for (const s of splits(body)) {
    chunks = s.chunks
    const e = await client.hangUp({ staffid: '8001' }).then(
      () => null,
      (err: unknown) => err,
    )
    if (!(e instanceof YantongError) || e.errno !== 5 || e.vendorMessage !== '工号未登录') {
      t.fail(`${s.name}: ${String(e)}`)
      return
    }
    n++
  }
  t.equal(n, body.length + 1, 'whole, byte by byte, and every two-chunk split')
})

async function sim(t: Tap.Test, opts: ConstructorParameters<typeof YantongSimulator>[0] = {}): Promise<YantongSimulator> {
  return (await startYantong({ ringMs: 50, ...opts }, t)).sim
}

t.test('every action reaches the simulator with the seed fields (POST and GET)', async (t) => {
  const s = await sim(t)
  for (const method of ['POST', 'GET'] as const) {
    s.requests.length = 0
    const c = new YantongClient({ url: s.url, companyid: 8, auth: 'yantong-demo', method })
    await c.sendDial({ staffid: '8001', phonenum: '15721266104', codeid_1: 'shop-3', codeid_2: 'g2' })
    await until(() => s.lines.get('8001')!.status === 1, 2000, 'talking')
    t.same((await c.extenStatus({ staffid: '8001' })).status, 1)
    await c.extenSpy({ staffid: '8002', spystaffid: '8001', spytype: 1 })
    await c.hangUp({ staffid: '8001' })
    const page = await c.getCdrList({ staffid: '8001', Sort: 'DESC', Limit: 1 })
    const rec = page.records[0]!
    t.match(rec, { src: '8001', dst: '15721266104', disposition: 'ANSWERED', codeid1: 'shop-3', codeid2: 'g2', callType: 'outbound' })
    t.match((await c.getRecord({ uniqueid: rec.uniqueId! })).paths[0], /^\/asterisk_file\/\d{4}-\d{2}-\d{2}\/\d{14}_8001_15721266104\.wav$/)
    await c.addCBaseData({ staffid: '8001', phonenum: method === 'GET' ? '13800000002' : '13800000000', name: '王芳', address: '南京市', email: 'w@example.com', comment: '回访' + method })
    await c.addTaskData({ batchid: '1001', phonenum: '13800000001' + (method === 'GET' ? '9' : ''), name: '李娜' })
    t.equal((await c.getUserInfo()).users.length, 2)
    t.same(
      (await c.getUserInfo({ staffid: '8002' })).users.map((u) => u.staffId),
      ['8002'],
    )
    const got = s.requests.map((r) => [r.method, r.action])
    t.same(
      got.map((g) => g[1]),
      ['SendDial', 'ExtenStatus', 'ExtenSpy', 'HangUp', 'GetCDRList', 'GetRecord', 'AddCBaseData', 'AddTaskData', 'GetUserInfo', 'GetUserInfo'],
    )
    t.ok(
      got.every((g) => g[0] === method),
      `all ${method}`,
    )
    for (const r of s.requests) t.match(r.params, { action: r.action, companyid: '8', auth: 'yantong-demo' })
    t.match(s.sent('SendDial')[0]!.params, { staffid: '8001', phonenum: '15721266104', codeid_1: 'shop-3', codeid_2: 'g2' })
    t.match(s.sent('ExtenSpy')[0]!.params, { staffid: '8002', spystaffid: '8001', spytype: '1' })
    t.match(s.sent('HangUp')[0]!.params, { staffid: '8001' })
    t.match(s.sent('GetCDRList')[0]!.params, { staffid: '8001', Sort: 'DESC', Limit: '1' })
    t.match(s.sent('AddCBaseData')[0]!.params, { name: '王芳', address: '南京市', comment: '回访' + method })
    t.notOk('staffid' in s.sent('GetUserInfo')[0]!.params)
  }
  // duplicates, unknown batches, bad auth: the vendor's own errno
  const c = new YantongClient({ url: s.url, companyid: 8, auth: 'yantong-demo' })
  t.match(await c.addCBaseData({ staffid: '8001', phonenum: '13800000000' }).catch((e) => e), { errno: 10 })
  t.match(await c.addTaskData({ batchid: '999', phonenum: '1' }).catch((e) => e), { errno: 11 })
  t.match(await new YantongClient({ url: s.url, companyid: 8, auth: 'wrong' }).hangUp({ staffid: '8001' }).catch((e) => e), { errno: 3, vendorMessage: '认证失败' })
  t.match(await new YantongClient({ url: s.url, companyid: 9, auth: 'yantong-demo' }).hangUp({ staffid: '8001' }).catch((e) => e), { errno: 3 })
  t.match(await c.call('NoSuchThing' as never, {}).catch((e) => e), { errno: 4 })
  t.match(await c.sendDial({ staffid: '8001', phonenum: '' }).catch((e) => e), { errno: 2 })
})

t.test('Chinese customer data survives a GBK vendor', async (t) => {
  const s = await sim(t)
  const c = new YantongClient({ url: s.url, companyid: 8, auth: 'yantong-demo', charset: 'gbk' })
  await c.addCBaseData({ staffid: '8002', phonenum: '13900000000', name: '张伟', address: '上海市浦东新区' })
  t.match(s.sent('AddCBaseData')[0]!.params, { name: '张伟', address: '上海市浦东新区' })
})

interface YRig {
  sim: YantongSimulator
  daemon: Daemon
  url: string
  stop(): Promise<void>
}

async function yrig(t: Tap.Test, source: Record<string, unknown> = {}, simOpts: ConstructorParameters<typeof YantongSimulator>[0] = {}): Promise<YRig> {
  const s = await sim(t, simOpts)
  const d = await daemonRig(
    {
      timeZone: 'Asia/Shanghai',
      sources: [{ id: 'yt', type: 'yantong', url: s.url, companyid: 8, auth: 'yantong-demo', staff: ['8001', '8002'], pollMs: 40, timeoutMs: 300, queryAttempts: 1, cdrPollMs: 40, ...source }],
    },
    { log: quiet(), t },
  )
  return { sim: s, daemon: d.daemon, url: d.api, stop: d.stop }
}

const chan = (r: YRig, staff: string) => r.daemon.table.get(`yt:${staff}`)

t.test('ExtenStatus changes appear on /v1/events; a dial shows outbound ringing → talking → idle', async (t) => {
  const r = await yrig(t)
  const ev = await SseReader.open(`${r.url}/v1/events`)
  t.teardown(() => ev.close())
  await ev.next((e) => e.event === 'source' && (e.data as any).id === 'yt' && (e.data as any).status === 'connected')
  t.equal(chan(r, '8001')?.state, 'idle')
  t.match((await getJson(`${r.url}/v1/sources/yt`)).body, { status: 'connected', supports: ['channels', 'cdr', 'dial', 'hangup', 'force-hangup', 'monitor', 'barge'] })

  r.sim.incoming('8002', '13888888888')
  const ring = await ev.next((e) => e.event === 'channel' && (e.data as any).id === 'yt:8002' && (e.data as any).state === 'ringing')
  t.match(ring.data, { direction: 'inbound', phone: '13888888888', agent: '8002', vendor: { status: 8, statusText: '振铃', extension: '8002' } })
  await ev.next((e) => e.event === 'channel' && (e.data as any).id === 'yt:8002' && (e.data as any).state === 'talking')

  const res = await fetch(`${r.url}/v1/calls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ source: 'yt', agent: '8001', phone: '02586307627', memo: 'order-17' }),
  })
  t.equal(res.status, 202)
  t.match(await res.json(), { accepted: true, source: 'yt', action: 'dial' })
  const out = await ev.next((e) => e.event === 'channel' && (e.data as any).id === 'yt:8001' && (e.data as any).state === 'ringing')
  t.match(out.data, { direction: 'outbound', phone: '02586307627' })
  await ev.next((e) => e.event === 'channel' && (e.data as any).id === 'yt:8001' && (e.data as any).state === 'talking')
  const h = await fetch(`${r.url}/v1/calls/hangup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source: 'yt', agent: '8001' }) })
  t.equal(h.status, 202)
  const idle = await ev.next((e) => e.event === 'channel' && (e.data as any).id === 'yt:8001' && (e.data as any).state === 'idle' && Number(e.id) > Number(out.id))
  t.match(idle.data, { direction: null, phone: null })
  // the finished call arrives as a record carrying the memo as codeid_1
  const cdr = await ev.next((e) => e.event === 'cdr' && (e.data as any).staff === '8001')
  t.match(cdr.data, {
    source: 'yt',
    direction: 'outbound',
    phone: '02586307627',
    disposition: 'ANSWERED',
    answered: true,
    codeid1: 'order-17',
    startedAt: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$/,
  })

  // agent states of the vendor: break and busy are idle lines with a presence; 4 is offline
  r.sim.setStatus('8002', 18)
  await until(() => chan(r, '8002')?.state === 'idle' && (chan(r, '8002')?.vendor as any)?.presence === 'break', 2000, 'break')
  r.sim.setStatus('8002', 4)
  await until(() => chan(r, '8002')?.state === 'offline', 2000, 'offline')
  r.sim.setStatus('8002', 77)
  await until(() => chan(r, '8002')?.state === 'unknown', 2000, 'unknown code')
  // a staff member who logged out: errno 5 on status is offline, not a failure of the source
  r.sim.setStatus('8002', 0)
  r.sim.lines.delete('8002')
  await until(() => chan(r, '8002')?.state === 'offline', 2000, 'not found (-1)')
  t.equal(r.daemon.sources.get('yt')!.status, 'connected')
})

t.test('status 9 (a second call rings during a call): the line stays talking with vendor.callWaiting, the call in progress keeps its number', async (t) => {
  const r = await yrig(t)
  r.sim.incoming('8002', '13888888888')
  await until(() => chan(r, '8002')?.state === 'talking', 3000, 'talking')
  t.match(chan(r, '8002'), { direction: 'inbound', phone: '13888888888', vendor: { callWaiting: false } })
  r.sim.setStatus('8002', 9, '13999999999')
  await until(() => (chan(r, '8002')?.vendor as any)?.status === 9, 3000, 'status 9 seen')
  t.match(chan(r, '8002'), { state: 'talking', direction: 'inbound', phone: '13888888888', vendor: { status: 9, statusText: '振铃', callWaiting: true, callerNum: '13999999999' } })
  r.sim.setStatus('8002', 1, '13888888888')
  await until(() => (chan(r, '8002')?.vendor as any)?.status === 1, 3000, 'back to 1')
  t.match(chan(r, '8002'), { state: 'talking', phone: '13888888888', vendor: { callWaiting: false } })
  // 19 正忙 is the agent's busy presence on an idle line
  r.sim.setStatus('8002', 19)
  await until(() => (chan(r, '8002')?.vendor as any)?.status === 19, 3000, '19')
  t.match(chan(r, '8002'), { state: 'idle', phone: null, vendor: { presence: 'busy', callWaiting: false } })
})

t.test('a simulator that stops answering: source down, channels unknown; then it recovers', async (t) => {
  const r = await yrig(t)
  await until(() => chan(r, '8001')?.state === 'idle' && chan(r, '8002')?.state === 'idle', 3000, 'idle')
  const ev = await SseReader.open(`${r.url}/v1/events`)
  t.teardown(() => ev.close())
  r.sim.silent = true
  await ev.next((e) => e.event === 'source' && (e.data as any).id === 'yt' && (e.data as any).status === 'down', 5000)
  await until(() => chan(r, '8001')?.state === 'unknown' && chan(r, '8002')?.state === 'unknown', 3000, 'unknown')
  // control is refused at once while down: nothing is sent
  const n = r.sim.requests.length
  const d = await fetch(`${r.url}/v1/calls`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source: 'yt', agent: '8001', phone: '123' }) })
  t.equal(d.status, 503)
  t.match(await d.json(), { error: { code: 'SOURCE_DOWN', source: 'yt', status: 'down' } })
  t.equal(r.sim.requests.length, n, 'nothing reached the vendor')
  r.sim.silent = false
  await ev.next((e) => e.event === 'source' && (e.data as any).id === 'yt' && (e.data as any).status === 'connected', 5000)
  await until(() => chan(r, '8001')?.state === 'idle' && chan(r, '8002')?.state === 'idle', 3000, 'idle again')
})

t.test('a wrong auth code: source down with the vendor message, lines unknown', async (t) => {
  const r = await yrig(t, { auth: 'wrong' })
  await until(() => r.daemon.sources.get('yt')!.status === 'down', 3000, 'down')
  t.match(r.daemon.sources.get('yt')!.info().lastError, /errno 3 认证失败/)
  t.equal(chan(r, '8001')?.state, 'unknown')
})

t.test('GetCDRList: PId cursor pages through a backlog in order, once each', async (t) => {
  const r = await yrig(t, { cdrStart: 'all', cdrLimit: 100, cdrMaxPages: 2 }, { firstCdrId: 0 })
  for (let i = 0; i < 250; i++) r.sim.addCdr({ dst: String(13900000000 + i) })
  const ev = await SseReader.open(`${r.url}/v1/events?since=0`)
  t.teardown(() => ev.close())
  const got = await ev.count('cdr', 250, 5000)
  t.same(
    got.map((e) => (e.data as any).id),
    Array.from({ length: 250 }, (_, i) => i + 1),
  )
  const pids = r.sim.sent('GetCDRList').map((q) => q.params.PId)
  t.same(pids.slice(0, 3), ['0', '100', '200'], 'each page starts after the last id of the one before')
  t.ok(r.sim.sent('GetCDRList').every((q) => q.params.Sort === 'ASC' && q.params.Limit === '100'))
  // new records later: only those
  const nid = r.sim.addCdr({ dst: '15000000000' })
  const late = await ev.next((e) => e.event === 'cdr' && (e.data as any).id === nid)
  t.match(late.data, { dst: '15000000000', phone: '15000000000', direction: 'outbound' })
  await new Promise((res) => setTimeout(res, 150))
  t.equal(ev.events.filter((e) => e.event === 'cdr').length, 251, 'no record twice')
})

t.test('cdrStart latest skips history; the cursor file survives a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tb-yt-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'yt.cursor')
  const s = await sim(t, { firstCdrId: 100 })
  for (let i = 0; i < 5; i++) s.addCdr()
  const cfg = (extra: Record<string, unknown> = {}) =>
    parseConfig({
      api: { port: 0 },
      sources: [{ id: 'yt', type: 'yantong', url: s.url, companyid: 8, auth: 'yantong-demo', staff: ['8001'], pollMs: 30, cdrPollMs: 30, timeoutMs: 300, cdrCursorFile: file, ...extra }],
    })
  let d = new Daemon(cfg(), { log: quiet() })
  await d.start()
  for (let i = 0; i < 50 && (await readFile(file, 'utf8').catch(() => '')) !== '105\n'; i++) await new Promise((res) => setTimeout(res, 20))
  t.equal(await readFile(file, 'utf8'), '105\n', 'latest: the cursor starts at the newest record, none published')
  t.equal(d.bus.published.get('cdr') ?? 0, 0)
  s.addCdr()
  await until(() => d.bus.published.get('cdr') === 1, 3000, 'one new record')
  await d.stop()
  for (let i = 0; i < 3; i++) s.addCdr() // 107..109 arrive while telbridge is stopped
  d = new Daemon(cfg(), { log: quiet() })
  t.teardown(() => d.stop())
  await d.start()
  await until(() => d.bus.published.get('cdr') === 3, 3000, 'the three missed records')
  const ids = d.bus
    .since(0)
    .events.filter((e) => e.type === 'cdr')
    .map((e) => JSON.parse(e.wire.split('\ndata: ')[1]!).id)
  t.same(ids, [107, 108, 109])
  // the cursor is written after the records are published (at least once, never lost)
  for (let i = 0; i < 50 && (await readFile(file, 'utf8')) !== '109\n'; i++) await new Promise((res) => setTimeout(res, 20))
  t.equal(await readFile(file, 'utf8'), '109\n')
  // a file with rubbish in it: a warning and a fresh start, not a crash
  await d.stop()
  await writeFile(file, 'garbage')
  d = new Daemon(cfg(), { log: quiet() })
  await d.start()
  await until(() => d.sources.get('yt')!.status === 'connected', 3000, 'connected')
})

t.test('no staff configured: the staff list comes from GetUserInfo', async (t) => {
  const r = await yrig(t, { staff: [] })
  await until(() => chan(r, '8001')?.state === 'idle' && chan(r, '8002')?.state === 'idle', 3000, 'discovered lines')
  t.equal(r.sim.sent('GetUserInfo').length, 1, 'asked once, not every poll')
  t.match(r.sim.sent('GetUserInfo')[0]!.params, { action: 'GetUserInfo', companyid: '8' })
  t.notOk('staffid' in r.sim.sent('GetUserInfo')[0]!.params)
})
