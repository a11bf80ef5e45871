import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { GuoxinSimOptions } from '../daemon/vendors/guoxin/simulator.js'
import { extAgent, logReport, pushReport, unrungReport } from '../daemon/vendors/guoxin/calls.js'
import type { CallLog, ExtState, GuoxinPush } from '../protocols/guoxin/index.js'
import { daemonRig, startGuoxin } from './helpers/rig.js'
import { until } from './helpers/sse.js'

/** Guoxin's calls in the call log: pushes (line + push), the §21 call log, extensions as agents; real HTTP against the simulator. */

type Rig = Awaited<ReturnType<typeof daemonRig>>
const rows = (r: Rig) =>
  (
    r.daemon.db!.prepare('SELECT id, channel, agent, direction, phone, disposition, ring_s, talk_s, inputs, vendor_ids, recordings FROM calls ORDER BY started_ms, seq').all() as Record<string, any>[]
  ).map((x) => ({ ...x, vendor_ids: JSON.parse(x.vendor_ids ?? '{}'), recordings: JSON.parse(x.recordings ?? '[]') }))

async function rig(t: Test, simOpts: Partial<GuoxinSimOptions> = {}, source: Record<string, unknown> = {}, dataDir?: string) {
  const { sim } = await startGuoxin({ ringMs: 150, talkMs: 1100, ...simOpts }, t)
  const d = await daemonRig(
    { ...(dataDir ? { dataDir } : {}), sources: [{ id: 'gx', type: 'guoxin', url: sim.url, pollMs: 100, timeoutMs: 500, callLogPollMs: 100, ...source }] },
    { ingest: true, sse: true, t },
  )
  sim.opts.push = `${d.ingest!}/guoxin/gx/push`
  await until(() => d.daemon.table.countBySource('gx') > 0, 3000, 'first poll')
  return { sim, d }
}

t.test('pushReport, logReport, unrungReport, extAgent', async (t) => {
  const p = (state: GuoxinPush['state'], extra: Partial<GuoxinPush> = {}): GuoxinPush => ({
    id: 'c1@h',
    caller: '13800138000',
    callee: '801',
    state,
    direction: null,
    businessId: 'b1',
    mainCall: false,
    group: null,
    ...extra,
  })
  const leg = { ext: '801', direction: 'inbound' as const, phone: '13800138000', withCallId: true }
  t.match(pushReport('gx', p('ringing'), leg, 1000), { input: 'push', channel: '801', agent: '801', direction: 'inbound', phone: '13800138000', vendorIds: { callId: 'c1@h' }, final: false })
  t.match(pushReport('gx', p('talking'), leg, 1000), { answeredAt: 1000, final: false })
  t.match(pushReport('gx', p('hungup'), leg, 2000), { endedAt: 2000, disposition: 'answered', final: true })
  t.match(pushReport('gx', p('canceled'), leg, 2000), { disposition: 'missed', final: true })
  t.match(pushReport('gx', p('canceled'), { ...leg, direction: 'outbound' }, 2000), { disposition: 'failed' })
  t.same(pushReport('gx', p('ringing'), { ...leg, withCallId: false, clickcallid: 'cc1' }, 0).vendorIds, { clickcallid: 'cc1' })
  t.match(unrungReport('gx', p('canceled', { mainCall: true }), true, 5000), { channel: '801', direction: 'inbound', disposition: 'busy', startedAt: 5000, endedAt: 5000, talkSeconds: 0, final: true })
  t.equal(unrungReport('gx', p('canceled', { mainCall: true }), false, 5000).disposition, 'missed')

  const log = (o: Partial<CallLog>): CallLog => ({
    id: 37,
    caller: '60610123',
    callee: '816',
    channel: '192.168.3.80',
    beginTime: 1459160867375,
    duration: 41,
    state: 'received',
    stateRaw: 'STATE_RECEIVED',
    callType: 'LOCAL_CALL',
    estimate: null,
    record: null,
    recordVoice: 'D:/records/816.wav',
    cname: null,
    servicetype: null,
    manustate: null,
    clickcallid: null,
    fxonum: null,
    productid: 0,
    callid: '173a248c@192.168.1.82',
    extra: {},
    ...o,
  })
  const isExt = (n: string) => /^8\d\d$/.test(n)
  t.match(logReport('gx', log({}), isExt), {
    input: 'log',
    channel: '816',
    direction: 'inbound',
    phone: '60610123',
    startedAt: 1459160867375,
    answeredAt: 1459160867375,
    endedAt: 1459160867375 + 41_000,
    talkSeconds: 41,
    disposition: 'answered',
    vendorIds: { callId: '173a248c@192.168.1.82', id: '37' },
    recordings: [{ kind: 'vendor', id: '173a248c@192.168.1.82', source: 'gx' }],
  })
  t.match(logReport('gx', log({ state: 'failed', duration: 0, recordVoice: null }), isExt), { disposition: null, talkSeconds: 0, answeredAt: null, recordings: [] })
  t.match(logReport('gx', log({ caller: '801', callee: '13900000000', state: 'failed', duration: 0, clickcallid: 'cc9' }), isExt), {
    channel: '801',
    direction: 'outbound',
    phone: '13900000000',
    disposition: null,
    vendorIds: { clickcallid: 'cc9' },
  })
  t.match(logReport('gx', log({ caller: '801', callType: 'CENTREX_CALL' }), isExt), { direction: 'internal', channel: '816' })
  t.equal(logReport('gx', log({ state: 'receiving' }), isExt), null, 'a call still talking is no record yet')

  const st = (o: Partial<ExtState>): ExtState => ({
    telNum: '801',
    userName: '李阳',
    registered: true,
    phoneType: null,
    state: 'idle',
    stateRaw: 'IDEL',
    presence: 'online',
    presenceRaw: 'online',
    missingCallCount: 0,
    remoteNum: null,
    ...o,
  })
  t.match(extAgent('gx', st({})), { agent: '801', name: '李阳', channels: ['801'], presence: null, loggedIn: true })
  t.match(extAgent('gx', st({ presence: 'busy' })), { presence: 'busy' })
  t.match(extAgent('gx', st({ presence: 'reducing' })), { presence: 'away' })
  t.match(extAgent('gx', st({ registered: false })), { presence: 'offline', loggedIn: false })
})

t.test('ring → answer → hang-up, a missed call, a busy extension and a transfer: one record each, pushes and call log merged', async (t) => {
  const { sim, d } = await rig(t)
  sim.incoming('801', '13800138000')
  sim.incoming('802', '13900139000', { answer: false })
  await until(() => d.daemon.table.lookup('gx', '801')?.state === 'talking', 3000, '801 talking')
  sim.incoming('801', '13700137000') // 801 is busy: never rings
  // generous: the machine the suite runs on may be loaded
  await until(() => rows(d).length === 3 && rows(d).every((x) => x.inputs.includes('log')), 15_000, 'three calls, each with its log entry').catch((err: Error) => {
    throw new Error(`${err.message}: ${JSON.stringify(rows(d))}`)
  })
  await new Promise((res) => setTimeout(res, 300))
  const all = rows(d)
  t.equal(all.length, 3, 'one record per call')
  const answered = all.find((x) => x.phone === '13800138000')
  const missed = all.find((x) => x.phone === '13900139000')
  const busy = all.find((x) => x.phone === '13700137000')
  const logOf = (phone: string) => sim.logs.find((l) => l.caller === phone)!
  t.match(answered, { channel: '801', agent: '801', direction: 'inbound', disposition: 'answered', talk_s: 1, inputs: /line.*log/ })
  t.match(answered!.vendor_ids, { callId: logOf('13800138000').callid, id: String(logOf('13800138000').id) })
  t.same(answered!.recordings, [{ kind: 'vendor', id: logOf('13800138000').callid, source: 'gx' }])
  t.match(missed, { channel: '802', direction: 'inbound', disposition: 'missed', talk_s: 0 })
  t.same(missed!.recordings, [])
  t.match(busy, { channel: '801', direction: 'inbound', disposition: 'busy', talk_s: 0 })
  t.same(busy!.inputs.split(',').sort(), ['log', 'push'], 'the push and the log entry (in either order)')
  const ended = d.sse!.events.filter((e) => e.event === 'call.ended')
  t.equal(ended.length, 3, 'call.ended once per call')
  // the recording the log names plays through telbridge
  const last = d
    .sse!.events.filter((e) => e.event.startsWith('call.') && (e.data as any).id === answered!.id)
    .map((e) => e.data as any)
    .at(-1)
  const rec = await fetch(d.api + last.recordings[0].url)
  t.equal(rec.status, 200)
  t.match(rec.headers.get('content-type'), /audio/)
  await rec.arrayBuffer()
  // extensions are agents with their name and presence
  t.match(d.daemon.agents.get('gx:801'), { source: 'gx', agent: '801', name: '李阳', channels: ['801'], loggedIn: true })
  sim.exts.get('803')!.presence = 'reducing'
  await until(() => d.daemon.agents.get('gx:803')?.presence === 'away', 2000, '803 away')

  // a transfer: 801 talks, the call moves to 802 (a leg of its own per extension), one log entry for the 802 leg
  const before = rows(d).length
  sim.opts.talkMs = 0
  sim.incoming('801', '13600136000')
  await until(() => d.daemon.table.lookup('gx', '801')?.state === 'talking', 3000, '801 talking')
  const tr = await fetch(`${sim.url}/bridge/callctrl?opt=CLICK_TO_TRANSFER&extnum=801&target=802`)
  t.equal(tr.status, 200)
  await until(() => d.daemon.table.lookup('gx', '802')?.state === 'talking', 3000, '802 talking')
  await fetch(`${sim.url}/bridge/callctrl?opt=CLICK_TO_HUNGUP&caller=802`)
  await until(() => rows(d).length === before + 2 && rows(d).filter((x) => x.phone === '13600136000' && x.inputs.includes('log')).length === 1, 15_000, 'two legs, the log on one')
  await new Promise((res) => setTimeout(res, 300))
  const legs = rows(d).filter((x) => x.phone === '13600136000')
  t.equal(legs.length, 2)
  t.same(legs.map((x) => x.channel).sort(), ['801', '802'])
  t.ok(
    legs.every((x) => x.disposition === 'answered'),
    'both legs talked',
  )
  t.equal(legs.find((x) => x.inputs.includes('log'))!.channel, '802', 'the log entry (the extension the call ended on) joins the leg on 802')

  // the log entry first, the call's pushes late (a loaded server): still one record
  const n = rows(d).length
  const id = 'late-1@127.0.0.1'
  sim.logs.push({
    id: 900,
    caller: '13200132000',
    callee: '803',
    channel: '127.0.0.1',
    beginTime: Date.now(),
    duration: 0,
    state: 'STATE_FAILED',
    callType: 'LOCAL_CALL',
    callid: id,
    clickcallid: '',
    recordVoice: '',
  })
  await until(() => rows(d).length === n + 1, 15_000, 'the log-only record')
  for (const state of ['ringing', 'canceled']) {
    const res = await fetch(`${sim.opts.push}?id=${encodeURIComponent(id)}&caller=13200132000&callee=803&state=${state}&businessId=b9&group=3003`)
    t.equal(res.status, 200)
  }
  await until(
    () =>
      rows(d)
        .find((x) => x.phone === '13200132000')
        ?.inputs.includes('push'),
    5000,
    'the pushes merged',
  )
  await new Promise((res) => setTimeout(res, 200))
  const late = rows(d).filter((x) => x.phone === '13200132000')
  t.equal(late.length, 1, 'one record')
  t.match(late[0], { channel: '803', disposition: 'missed' })
})

t.test('calls while telbridge is down come in once from the cursor; a full re-read adds nothing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tb-gxc-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const cursor = join(dir, 'gx.cursor')
  const { sim } = await startGuoxin({ ringMs: 50, talkMs: 300 }, t)
  const start = async (extra: Record<string, unknown> = {}) => {
    const d = await daemonRig(
      { dataDir: dir, sources: [{ id: 'gx', type: 'guoxin', url: sim.url, pollMs: 100, timeoutMs: 500, callLogPollMs: 100, callLogCursorFile: cursor, ...extra }] },
      { sse: true, t },
    )
    return d
  }
  // before telbridge ever ran (within callLogLookbackHours), and one long before (outside it)
  sim.incoming('801', '13500135000')
  await until(() => sim.logs.length === 1, 3000, 'the first call logged')
  sim.logs.push({ ...sim.logs[0]!, id: 0, beginTime: Date.now() - 3 * 86_400_000, callid: 'old@h', caller: '13000000000' })
  let d = await start()
  await until(() => rows(d).length === 1, 3000, 'the call from before the first start')
  t.match(rows(d)[0], { inputs: 'log', phone: '13500135000', disposition: 'answered' })
  await d.stop()

  // down: two calls (one answered, one missed)
  sim.incoming('802', '13400134000')
  sim.incoming('803', '13300133000', { answer: false })
  await until(() => sim.logs.length === 4, 3000, 'both logged')
  d = await start()
  await until(() => rows(d).length === 3, 3000, 'the two calls made while down')
  await new Promise((res) => setTimeout(res, 300))
  t.same(
    rows(d)
      .map((x) => x.disposition)
      .sort(),
    ['answered', 'answered', 'missed'],
  )
  await d.stop()

  // the cursor lost: the lookback reads everything again; the vendor ids find every record
  await rm(cursor)
  d = await start()
  await until(() => (d.daemon.sources.get('gx') as any).logCursor.reported >= 3, 3000, 'the entries read again')
  await new Promise((res) => setTimeout(res, 200))
  t.equal(rows(d).length, 3, 'no record twice')
  t.equal(d.sse!.events.filter((e) => e.event.startsWith('call.')).length, 0, 'nothing announced: nothing changed')
})

t.test('a call still talking in the log holds the cursor, not the entries after it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tb-gxr-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const cursor = join(dir, 'gx.cursor')
  const { sim } = await startGuoxin({}, t)
  const entry = (id: number, state: 'STATE_RECEIVING' | 'STATE_RECEIVED', caller: string) => ({
    id,
    caller,
    callee: '801',
    channel: '127.0.0.1',
    beginTime: Date.now() - 60_000 + id,
    duration: state === 'STATE_RECEIVED' ? 30 : 0,
    state,
    callType: 'LOCAL_CALL',
    callid: `r${id}@h`,
    clickcallid: '',
    recordVoice: '',
  })
  sim.logs.push(entry(1, 'STATE_RECEIVED', '13100000001'), entry(2, 'STATE_RECEIVING', '13100000002'), entry(3, 'STATE_RECEIVED', '13100000003'))
  const d = await daemonRig({ dataDir: dir, sources: [{ id: 'gx', type: 'guoxin', url: sim.url, pollMs: 100, timeoutMs: 500, callLogPollMs: 100, callLogCursorFile: cursor }] }, { t })
  await until(() => rows(d).length === 2, 5000, 'the two finished calls')
  t.same(
    rows(d)
      .map((x) => x.phone)
      .sort(),
    ['13100000001', '13100000003'],
  )
  await until(async () => (await readFile(cursor, 'utf8').catch(() => '')).startsWith('1 '), 3000, 'the cursor at entry 1')
  await new Promise((res) => setTimeout(res, 300))
  t.equal(rows(d).length, 2, 'entry 3 once, though it is read again each round')
  sim.logs[1]!.state = 'STATE_RECEIVED'
  sim.logs[1]!.duration = 45
  await until(() => rows(d).length === 3, 5000, 'the call that was talking, once it ended')
  await until(async () => (await readFile(cursor, 'utf8').catch(() => '')).startsWith('3 '), 3000, 'the cursor past all three')
  t.match(
    rows(d).find((x) => x.phone === '13100000002'),
    { talk_s: 45, disposition: 'answered' },
  )
})
