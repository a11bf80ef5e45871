import t from 'tap'
import { daemonRig, startLqSocket, startLqVack, type DaemonRig, type Teardown } from './helpers/rig.js'
import { getJson, until } from './helpers/sse.js'
import { agentLeg, custCallReport, operAgent } from '../daemon/vendors/lq-vack/calls.js'

/** The call log fed by 小灵呼 LQ: pops alone (lq-socket), and lq-vack's line state, custURL pops, getCustCall and getOperStatus, over real HTTP/TCP against the simulators. */

interface Row {
  id: string
  channel: string | null
  agent: string | null
  phone: string | null
  disposition: string
  answered_ms: number | null
  ended_ms: number | null
  ring_s: number | null
  talk_s: number | null
  recordings: string | null
  vendor_ids: string | null
  pop_data: string | null
  inputs: string
}
const rows = (r: DaemonRig, source: string) => r.daemon.db!.prepare('SELECT * FROM calls WHERE source = ? ORDER BY started_ms').all(source) as Row[]

t.test('conversions: getCustCall rows, getOperStatus agents, agent-channel legs', async (t) => {
  const base = { id: '12086743449532', sn: '1234', ch: 2, direction: 1, voiceType: 6, phone: '02586307627', date: '2008-04-20', oper: '801', startTime: '14:52:24', endTime: '14:53:10' }
  const none = { file: null, reason: null, called: null, result: null, satisfaction: null, memo: null }
  const a = custCallReport('lqv', { ...base, ...none, file: '20080420_145224_2_02586307627.wav' }, 'Asia/Shanghai')!
  t.match(a, {
    source: 'lqv',
    input: 'log',
    channel: '2',
    agent: '801',
    direction: 'inbound',
    disposition: 'answered',
    talkSeconds: 46,
    vendorIds: { callId: '12086743449532', sn: '1234' },
    final: true,
  })
  t.equal(new Date(a.startedAt!).toISOString(), '2008-04-20T06:52:24.000Z', 'dt + tms in the server zone')
  t.same(a.recordings, [{ kind: 'vendor', id: '12086743449532', source: 'lqv' }])
  t.match(custCallReport('lqv', { ...base, ...none, voiceType: 0, file: 'x.wav' }, 'Asia/Shanghai'), { disposition: 'missed', talkSeconds: 0, recordings: [] }, '未通话 inbound: missed, no recording')
  t.match(custCallReport('lqv', { ...base, ...none, voiceType: 0, direction: 2 }, 'Asia/Shanghai'), { disposition: 'failed', direction: 'outbound' })
  t.match(
    custCallReport('lqv', { ...base, ...none, voiceType: 2, file: 'msg.wav' }, 'Asia/Shanghai'),
    { disposition: 'missed', recordings: [{ kind: 'vendor' }] },
    '留言: nobody took it, the message is kept',
  )
  t.match(custCallReport('lqv', { ...base, ...none, voiceType: 5 }, 'Asia/Shanghai'), { disposition: null, talkSeconds: null }, 'LOffice 未录音 says nothing of an answer')
  t.match(custCallReport('lqv', { ...base, ...none, id: null, file: 'f.wav' }, 'Asia/Shanghai'), { vendorIds: { sn: '1234' }, recordings: [{ id: 'sn:1234' }] })
  const midnight = custCallReport('lqv', { ...base, ...none, startTime: '23:59:30', endTime: '00:00:40' }, 'Asia/Shanghai')!
  t.equal(midnight.endedAt! - midnight.startedAt!, 70_000, 'a call over midnight ends the next day')
  t.equal(custCallReport('lqv', { ...base, ...none, id: null, sn: null }, 'Asia/Shanghai'), null, 'no id at all: not a record')
  t.equal(custCallReport('lqv', { ...base, ...none, startTime: '25:00' }, 'Asia/Shanghai'), null, 'a bad time: not a record')

  const op = (o: object) => operAgent('lqv', { oper: '801', ch: 4, inUse: 0, status: 0, phone: null, loggedIn: true, busy: false, ...o })
  t.match(op({}), { agent: '801', channels: ['4'], presence: 'idle', loggedIn: true })
  t.match(op({ inUse: 1, status: 3 }), { presence: 'busy' })
  t.match(op({ busy: true }), { presence: 'away' })
  t.match(op({ loggedIn: false }), { presence: 'offline', loggedIn: false })
  t.match(op({ inUse: -1 }), { presence: 'offline' })

  t.equal(agentLeg(9, 2, 'external', true), '2', 'an agent channel on an outside line is its leg')
  t.equal(agentLeg(9, 8, 'agent', true), '8', 'internal call: the lower-numbered end records it')
  t.equal(agentLeg(8, 9, 'agent', true), null)
  t.equal(agentLeg(9, -1, undefined, true), true, 'busy with no peer: a leg of whatever line carries it')
  t.equal(agentLeg(9, 2, 'external', false), null)
})

t.test('lq-socket (pops only): call.started carries the pop data; the call ends unknown when the pop state expires; a new pop id on a busy line is a new call', async (t) => {
  const lq = await startLqSocket({}, t)
  const r = await daemonRig({ sources: [{ id: 'lqs', type: 'lq-socket', host: '127.0.0.1', port: lq.port, oper: '801', reconnectSeconds: 0.2, popStateSeconds: 1 }] }, { t, sse: true })
  await until(() => [...lq.sim.clients].some((c) => c.registration !== null), 5000, 'registered')
  lq.sim.sendPop('H=t1v5,ch=7,ph=13912345678,ty=1,tm=081123101500,op=801,sn=99,so=0,mb=2001,da=城市:南京|会员等级:金卡,dm=1;')
  const started = await r.sse!.next((e) => e.event === 'call.started')
  t.match(started.data, { source: 'lqs', channel: '7', channelId: 'lqs:7', phone: '13912345678', agent: '801', direction: 'inbound', vendorIds: { callId: '99', sn: '99' } })
  t.match((started.data as any).popData, { 城市: '南京', 会员等级: '金卡', member: '2001', kind: 'inbound' }, 'the first call.started already has the pop data (screen pop)')
  const ended = await r.sse!.next((e) => e.event === 'call.ended', 5000)
  t.match(
    ended.data,
    { id: (started.data as any).id, disposition: 'unknown', answeredAt: null, endedAt: null, talkSeconds: null, inputs: ['line', 'pop'] },
    'a pop-only source cannot tell answer or end',
  )

  // a transfer pop (ty=5) only comes in a call someone answered
  lq.sim.sendPop('H=t1v4,ch=3,ph=02586307627,ty=5,tm=081123101600,op=802,sn=100,so=801,dm=0;')
  const tr = await r.sse!.next((e) => e.event === 'call.ended' && (e.data as any).channel === '3', 5000)
  t.match(tr.data, { disposition: 'answered', agent: '802', popData: { kind: 'inbound-transfer', originAgent: '801' } })

  // two pops on one line without a hang-up between them: two calls
  lq.sim.sendPop('H=t1v3,ch=5,ph=13800000001,id=1000000000005,tm=081123101700,op=801,sn=101,dm=0;')
  lq.sim.sendPop('H=t1v3,ch=5,ph=13800000002,id=1000000000105,tm=081123101710,op=801,sn=102,dm=0;')
  await until(() => rows(r, 'lqs').filter((x) => x.channel === '5').length === 2, 5000, 'two records on channel 5')
  const five = rows(r, 'lqs').filter((x) => x.channel === '5')
  t.same(
    five.map((x) => x.phone),
    ['13800000001', '13800000002'],
  )
  t.same(
    five.map((x) => JSON.parse(x.vendor_ids!).callId),
    ['1000000000005', '1000000000105'],
  )
  t.equal(rows(r, 'lqs').length, 4, 'one record per call')
})

/** An lq-vack source with custURL pops and the call log, against the simulator. */
async function vackRig(t: Teardown, dataDir?: string) {
  const lq = await startLqVack({ channels: 2, agents: ['801', '802'], answerMs: 300, talkMs: 400 }, t)
  const r = await daemonRig(
    {
      ...(dataDir ? { dataDir } : {}),
      timeZone: 'Asia/Shanghai',
      sources: [{ id: 'lqv', type: 'lq-vack', url: lq.sim.url, secret: 'lcall', pollMs: 100, operPollMs: 200, queuePollMs: 0, callLogPollMs: 300 }],
    },
    { t, ingest: true, sse: true, ...(dataDir ? { dataDir: false } : {}) },
  )
  lq.sim.opts.custUrl = `${r.ingest}/lq/lqv/cust?`
  return { lq, r }
}

t.test('lq-vack: ring → answer → hang-up is one answered record, merged with its custURL pop and its getCustCall row, recording linked', async (t) => {
  const { lq, r } = await vackRig(t)
  await until(() => r.daemon.sources.get('lqv')!.status === 'connected', 5000, 'connected')
  lq.sim.inbound('13800138000')
  await until(() => lq.sim.log.length === 1, 5000, 'the simulator logged the call')
  const logged = lq.sim.log[0]!
  const merged = await until(() => rows(r, 'lqv').find((x) => x.inputs.includes('log')), 5000, 'the log row merged')
  t.equal(rows(r, 'lqv').length, 1, 'one record: the agent channel is a leg of the line, the pop and the log row merged into it')
  t.match(merged, { channel: String(logged.ch), phone: '13800138000', agent: logged.oper, disposition: 'answered' })
  t.same(merged.inputs.split(','), ['line', 'pop', 'log'])
  t.same(JSON.parse(merged.vendor_ids!), { callId: logged.id, sn: String(logged.sn) })
  t.ok(merged.talk_s !== null && merged.talk_s >= 0 && merged.talk_s <= 2, `talk ${merged.talk_s} s`)
  t.ok(merged.ring_s !== null && merged.ring_s <= 2, `ring ${merged.ring_s} s`)
  const cdr = (r.daemon.calls.callLog!.get(merged.id) as any)!
  t.same(cdr.recordings, [{ kind: 'vendor', id: logged.id, source: 'lqv' }])
  const audio = await fetch(`${r.api}/v1/sources/lqv/recordings/${logged.id}`)
  t.equal(audio.status, 200)
  t.equal(
    Buffer.from(await audio.arrayBuffer())
      .subarray(0, 4)
      .toString(),
    'RIFF',
    'the linked recording plays through telbridge',
  )
  // the call.ended event came before the log row; the row then updated the record
  const ended = r.sse!.events.filter((e) => e.event === 'call.ended')
  t.equal(ended.length, 1)
  t.equal((ended[0]!.data as any).disposition, 'answered')
  await until(() => r.sse!.events.some((e) => e.event === 'call.updated' && (e.data as any).recordings.length === 1), 3000, 'call.updated with the recording')

  // a missed call: the caller hangs up while the line rings
  lq.sim.agents.get('801')!.busy = true
  lq.sim.agents.get('802')!.busy = true
  lq.sim.inbound('02586307627', { giveUpMs: 500 })
  const missed = await until(() => rows(r, 'lqv').find((x) => x.phone === '02586307627' && x.inputs.includes('log')), 5000, 'the missed call logged')
  t.match(missed, { disposition: 'missed', talk_s: 0, recordings: null })
  t.ok(missed.inputs.startsWith('line'), 'seen live')
  t.equal(rows(r, 'lqv').length, 2)

  // re-reads of the log add nothing
  const reads = (await getJson(`${r.api}/v1/sources/lqv`)).body.detail.callLog.reads as number
  await until(async () => (await getJson(`${r.api}/v1/sources/lqv`)).body.detail.callLog.reads >= reads + 2, 5000, 'two more reads')
  t.equal(rows(r, 'lqv').length, 2, 'a re-read adds no record')

  // agents: getOperStatus → the registry, with presence and 签入
  await until(() => r.daemon.agents.get('lqv:801')?.presence === 'away', 3000, '示忙 → away')
  t.match(r.daemon.agents.get('lqv:801'), { source: 'lqv', agent: '801', loggedIn: true, channels: ['2'] })
})

t.test('lq-vack: a call made while telbridge was down comes from getCustCall once, also across a restart', async (t) => {
  const lq = await startLqVack({ channels: 2, agents: ['801'], answerMs: 50, talkMs: 100 }, t)
  lq.sim.inbound('13911112222')
  await until(() => lq.sim.log.length === 1, 5000, 'a call before telbridge started')
  const cfg = { timeZone: 'Asia/Shanghai', sources: [{ id: 'lqv', type: 'lq-vack', url: lq.sim.url, secret: 'lcall', pollMs: 100, queuePollMs: 0, callLogPollMs: 200 }] }
  const r = await daemonRig(cfg, { t })
  const row = await until(() => rows(r, 'lqv')[0], 5000, 'the log row became a record')
  t.match(row, { phone: '13911112222', disposition: 'answered', inputs: 'log', agent: '801', channel: String(lq.sim.log[0]!.ch) })
  t.same(JSON.parse(row.recordings!), [{ kind: 'vendor', id: lq.sim.log[0]!.id, source: 'lqv' }])
  await until(async () => (await getJson(`${r.api}/v1/sources/lqv`)).body.detail.callLog.reads >= 3, 5000, 'read again')
  t.equal(rows(r, 'lqv').length, 1)
  const dir = r.dir!
  await r.daemon.stop()
  // the cursor is not kept: the first read after a restart reads the lookback again, and merges by id
  const r2 = await daemonRig({ ...cfg, dataDir: dir }, { t, dataDir: false })
  await until(async () => (await getJson(`${r2.api}/v1/sources/lqv`)).body.detail.callLog.reads >= 2, 5000, 'read after restart')
  t.equal(rows(r2, 'lqv').length, 1, 'still one record')
})

t.test('lq-vack with popSource: a line the pop source has popped is recorded once, under the pop source, with the vack line state and log row', async (t) => {
  const lq = await startLqVack({ channels: 1, agents: ['801'], answerMs: 300, talkMs: 400 }, t)
  const ls = await startLqSocket({}, t)
  const r = await daemonRig(
    {
      timeZone: 'Asia/Shanghai',
      sources: [
        { id: 'lqs', type: 'lq-socket', host: '127.0.0.1', port: ls.port, oper: '801', reconnectSeconds: 0.2, popStateSeconds: 0 },
        { id: 'lqv', type: 'lq-vack', url: lq.sim.url, secret: 'lcall', pollMs: 100, queuePollMs: 0, callLogPollMs: 300, popSource: 'lqs' },
      ],
    },
    { t },
  )
  await until(() => [...ls.sim.clients].some((c) => c.registration !== null), 5000, 'registered')
  // a pop on line 0 (the vack poll then says the line is idle: that pop's call ends)
  ls.sim.sendPop('H=t1v3,ch=0,ph=13500000000,id=10000000000000,tm=081123101700,op=801,sn=1,dm=0;')
  await until(() => rows(r, 'lqs').length === 1, 5000, 'the pop-only call ended by the poll')
  lq.sim.inbound('13800138000')
  await until(() => lq.sim.log.length === 1, 5000, 'the call logged')
  const rec = await until(() => rows(r, 'lqs').find((x) => x.phone === '13800138000' && x.inputs.includes('log')), 5000, 'the log row merged')
  t.match(rec, { channel: '0', disposition: 'answered', agent: '801' })
  t.same(JSON.parse(rec.recordings!), [{ kind: 'vendor', id: lq.sim.log[0]!.id, source: 'lqv' }], 'the recording is played through the vack source')
  t.equal(rows(r, 'lqv').length, 0, 'the vack source records no second copy of a popped line')
  t.equal(rows(r, 'lqs').length, 2)
})

t.test('the vack simulator: missRatio makes random inbound calls that nobody answers (logged vt 0, no recording)', async (t) => {
  const lq = await startLqVack({ channels: 2, agents: ['801'], rate: 20, missRatio: 1, answerMs: 50, talkMs: 50 }, t)
  await until(() => lq.sim.log.length >= 2, 5000, 'two calls logged')
  t.ok(
    lq.sim.log.every((x) => x.vt === 0 && x.dir === 1),
    'every one missed',
  )
})
