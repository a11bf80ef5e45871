import t, { type Test } from 'tap'
import iconv from 'iconv-lite'
import type { GuoxinSimulator, GuoxinSimOptions } from '../daemon/vendors/guoxin/simulator.js'
import type { GuoxinSource } from '../daemon/vendors/guoxin/source.js'
import type { Daemon } from '../daemon/daemon.js'
import { daemonRig, postJson, startGuoxin } from './helpers/rig.js'
import { SseReader, getJson, until } from './helpers/sse.js'

// issue 11, items 8–10: poll vs push, click-to-dial ids and hang-up, the push receiver

interface Rig {
  sim: GuoxinSimulator
  daemon: Daemon
  api: string
  push: string
  source: GuoxinSource
  state(ext: string): string | undefined
}

async function rig(t: Test, source: Record<string, unknown> = {}, simOpts: Partial<GuoxinSimOptions> & { pushes?: boolean } = {}): Promise<Rig> {
  const { sim } = await startGuoxin(simOpts, t)
  const d = await daemonRig({ timeZone: 'Asia/Shanghai', sources: [{ id: 'gx', type: 'guoxin', url: sim.url, pollMs: 100, timeoutMs: 300, ...source }] }, { ingest: true, t })
  const push = `${d.ingest!}/guoxin/gx/push`
  if (simOpts.pushes !== false) sim.opts.push = push
  await until(() => d.daemon.table.countBySource('gx') > 0, 3000, 'first poll')
  return { sim, daemon: d.daemon, api: d.api, push, source: d.daemon.sources.get('gx') as GuoxinSource, state: (ext) => d.daemon.table.lookup('gx', ext)?.state }
}

t.test('push receiver: POST with a form body, tolerant of +/= ids, sip: callers and Chinese group names', async (t) => {
  const r = await rig(t, { pollMs: 60_000 }, { pushes: false })
  // before: POST was 404 and these fields were 400
  const id = 'AbC+dE/f==@192.168.1.82'
  const form = `id=${encodeURIComponent(id)}&caller=${encodeURIComponent('sip:13700000000@10.0.0.9:5060')}&callee=801&state=ringing&direction=incoming&businessId=${encodeURIComponent('x+y=')}&group=${encodeURIComponent('售前组')}`
  const res = await fetch(r.push, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form })
  t.equal(res.status, 200)
  t.equal(await res.text(), 'ok')
  t.match(r.daemon.table.lookup('gx', '801'), { state: 'ringing', callId: id, phone: '13700000000', direction: 'inbound' })
  const pops = (await getJson(`${r.api}/v1/pops?source=gx`)).body.pops
  t.match(pops[0], { pop: { phone: '13700000000', agent: '801', callId: id, data: { group: '售前组' } } })
  // GET with the same fields, and a POST with the fields in its query string
  const q = `id=${encodeURIComponent('Zz+/=@h')}&caller=${encodeURIComponent('sip:802@10.0.0.6')}&callee=803&state=ringing&group=${encodeURIComponent('投诉组')}`
  const got = await fetch(`${r.push}?${q}`)
  t.equal(got.status, 200, await got.text())
  t.match(r.daemon.table.lookup('gx', '803'), { state: 'ringing', callId: 'Zz+/=@h' })
  t.equal((await fetch(`${r.push}?${q.replace('callee=803', 'callee=802').replace('sip%3A802', '13900000000')}`, { method: 'POST' })).status, 200)
  t.equal(r.state('802'), 'ringing')
  // still refused: control characters, overlong fields, a field twice (query and body)
  for (const [body, field] of [
    [`id=a%0Ab&caller=1&callee=801&state=ringing`, 'id'],
    [`id=a&caller=1&callee=801&state=ringing&group=${encodeURIComponent('组\u0001')}`, 'group'],
    [`id=${'x'.repeat(129)}&caller=1&callee=801&state=ringing`, 'id'],
    [`id=a&caller=1&callee=801&state=ringing&group=${'g'.repeat(65)}`, 'group'],
    [`id=a&caller=%3Cb%3E&callee=801&state=ringing`, 'caller'],
  ] as const) {
    const bad = await fetch(r.push, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })
    t.equal(bad.status, 400, body)
    t.equal(((await bad.json()) as any).error.field, field)
  }
  const twice = await fetch(`${r.push}?state=hungup`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'id=a&caller=1&callee=801&state=ringing' })
  t.equal(twice.status, 400)
})

t.test('push receiver: a GBK source decodes GBK-encoded Chinese group names', async (t) => {
  const r = await rig(t, { pollMs: 60_000, encoding: 'gbk' }, { pushes: false, encoding: 'gbk' })
  const gbk = [...iconv.encode('售后组', 'gbk')].map((b) => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join('')
  t.equal((await fetch(`${r.push}?id=g1&caller=13700000000&callee=801&state=ringing&group=${gbk}`)).status, 200)
  const pops = (await getJson(`${r.api}/v1/pops?source=gx`)).body.pops
  t.match(pops[0], { pop: { data: { group: '售后组' } } })
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('poll vs push: IDEL polls do not end a ringing call a push started (one call, one ringing/idle pair)', async (t) => {
  // the simulator answers IDEL while a phone rings, as the real server is likely to
  const r = await rig(t, { pollMs: 100 }, { ringMs: 900, talkMs: 400 })
  const sse = await SseReader.open(`${r.api}/v1/events`)
  t.teardown(() => sse.close())
  const call = r.sim.incoming('802', '13700000000')!
  await until(() => r.state('802') === 'ringing', 2000, 'ringing from the push')
  await sleep(400)
  t.same(
    r.sim.extStates().find((e) => e.telNum === '802'),
    { telNum: '802', userName: '张霞', telRegState: 1, phoneType: 'NewRockTech-MX8-v1.9.82.333/UA', state: 'IDEL', presence: 'online', missingCallCount: 0 },
    'the simulator says IDEL while ringing',
  )
  t.match(r.daemon.table.lookup('gx', '802'), { state: 'ringing', callId: call.id, phone: '13700000000' }, 'several IDEL polls later: still ringing, call id kept')
  await until(() => r.state('802') === 'talking', 2000, 'talking')
  await until(() => r.state('802') === 'idle', 2000, 'hung up')
  await sleep(200)
  const states = sse.events.filter((e) => e.event === 'channel' && e.data.id === 'gx:802').map((e) => e.data.state as string)
  const compact = states.filter((s, i) => s !== states[i - 1])
  t.same(compact, ['ringing', 'talking', 'idle'], 'one ringing, one idle: no idle in between')
})

t.test('poll vs push: the hold ends after pushHoldSeconds without a push, or on OFFLINE; BUSY still counts', async (t) => {
  const r = await rig(t, { pollMs: 100, pushHoldSeconds: 0.5 }, { pushes: false })
  const ring = (id: string, callee: string) => fetch(`${r.push}?id=${id}&caller=13700000000&callee=${callee}&state=ringing`)
  await ring('lost-hangup', '801')
  await sleep(250)
  t.equal(r.state('801'), 'ringing', 'held within pushHoldSeconds')
  await until(() => r.state('801') === 'idle', 2000, 'an IDEL poll ends it after pushHoldSeconds')
  t.equal(r.daemon.table.lookup('gx', '801')!.callId, null)
  // OFFLINE counts at once
  await ring('c2', '803')
  r.sim.exts.get('803')!.registered = false
  await until(() => r.state('803') === 'offline', 2000, 'offline poll')
  // a hungup push ends the hold: the next IDEL poll agrees
  await ring('c3', '802')
  await fetch(`${r.push}?id=c3&caller=13700000000&callee=802&state=hungup`)
  t.equal(r.state('802'), 'idle')
})

t.test('click-to-dial: the clickcallid is the callId of the 202 and hangs the call up; the caller extension is dialing, never ringing', async (t) => {
  const r = await rig(t, { pollMs: 100 }, { ringMs: 300, talkMs: 0 })
  const sse = await SseReader.open(`${r.api}/v1/events`)
  t.teardown(() => sse.close())
  const res = await postJson(`${r.api}/v1/calls`, { source: 'gx', agent: '801', phone: '13800000001' })
  t.equal(res.status, 202)
  const clickcallid = r.sim.exts.get('801')!.call!.clickcallid
  t.ok(clickcallid, 'the simulator answered a clickcallid')
  t.equal(res.body.callId, clickcallid, 'before: no callId (the answer body was dropped)')
  await until(() => r.state('801') === 'talking', 3000, 'talking')
  await r.sim.flushPushes()
  t.ok(
    r.sim.pushes.some((p) => p.params.businessId === 'maincall' && p.params.callee === '801' && p.params.state === 'calling'),
    'the maincall leg named the caller extension as callee',
  )
  const states = sse.events.filter((e) => e.event === 'channel' && e.data.id === 'gx:801').map((e) => e.data.state as string)
  t.notOk(states.includes('ringing'), `the caller's side was never ringing (${states.join(',')})`)
  t.ok(states.includes('dialing'))
  t.equal(sse.events.filter((e) => e.event === 'pop').length, 0, 'no pop for our own dial')
  // hang up by the clickcallid alone: the extension and the callee come from the dial
  r.daemon.table.update('gx', '801', { phone: null })
  const hang = await postJson(`${r.api}/v1/calls/hangup`, { source: 'gx', callId: clickcallid })
  t.equal(hang.status, 202)
  t.same(r.sim.requestsFor('CLICK_TO_HUNGUP').at(-1)!.params, { caller: '801', callee: '13800000001', opt: 'CLICK_TO_HUNGUP' }, 'callee taken from the dial when the table has none')
  await until(() => r.state('801') === 'idle', 3000, 'idle')
  // the call log carries the same clickcallid (correlation)
  const day = new Date().toISOString().slice(0, 10)
  const log = await getJson(`${r.api}/v1/sources/gx/call-log?begin=${day}`)
  t.equal(log.body.logs.at(-1).clickcallid, clickcallid)
})

t.test('hang-up with no number known: sent without callee (documented)', async (t) => {
  const r = await rig(t, { pollMs: 60_000 }, { pushes: false })
  r.sim.failNext('CLICK_TO_HUNGUP', 200)
  const hang = await postJson(`${r.api}/v1/calls/hangup`, { source: 'gx', agent: '802' })
  t.equal(hang.status, 202)
  t.same(r.sim.requestsFor('CLICK_TO_HUNGUP').at(-1)!.params, { caller: '802', opt: 'CLICK_TO_HUNGUP' })
})
