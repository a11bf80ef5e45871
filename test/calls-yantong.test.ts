import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { daemonRig, startYantong } from './helpers/rig.js'
import { until } from './helpers/sse.js'
import { cdrReport, staffAgent } from '../daemon/vendors/yantong/calls.js'
import type { CdrRecord } from '../protocols/yantong/index.js'

/** Yantong's calls in the call log: ExtenStatus polling (line) merged with GetCDRList (log), over real HTTP against the simulator. */

const rows = (r: Awaited<ReturnType<typeof daemonRig>>) =>
  (r.daemon.db!.prepare('SELECT id, channel, agent, direction, phone, disposition, ring_s, talk_s, inputs, vendor_ids, recordings FROM calls ORDER BY started_ms').all() as Record<string, any>[]).map(
    (x) => ({ ...x, vendor_ids: JSON.parse(x.vendor_ids ?? '{}'), recordings: JSON.parse(x.recordings ?? '[]') }),
  )

const source = (sim: { url: string }, extra: Record<string, unknown> = {}) => ({
  id: 'yt',
  type: 'yantong',
  url: sim.url,
  companyid: 8,
  auth: 'yantong-demo',
  staff: ['8001', '8002'],
  pollMs: 30,
  cdrPollMs: 50,
  timeZone: 'Asia/Shanghai',
  ...extra,
})

t.test('cdrReport: durations, dispositions, recording and ids from one record', async (t) => {
  const base: CdrRecord = {
    id: 46470,
    src: '88851977744',
    dst: '15721266104',
    calldate: '2016-01-05 12:12:25',
    durationSeconds: 12,
    billSeconds: 2,
    disposition: 'ANSWERED',
    customerId: null,
    companyId: '8',
    classifId: null,
    projectId: null,
    staffId: '8001',
    exten: '8001',
    codeid1: 'memo-1',
    codeid2: null,
    uniqueId: '1451974063.123',
    callType: 'outbound',
    callTypeCode: '0',
  }
  const start = Date.parse('2016-01-05T12:12:25+08:00')
  const r = cdrReport('yt', base, start)
  t.match(r, { input: 'log', channel: '8001', agent: '8001', direction: 'outbound', phone: '15721266104', startedAt: start, ringSeconds: 10, talkSeconds: 2, disposition: 'answered', memo: 'memo-1' })
  t.equal(r.answeredAt, start + 10_000)
  t.equal(r.endedAt, start + 12_000)
  t.same(r.vendorIds, { id: '46470', uniqueid: '1451974063.123' })
  t.same(r.recordings, [{ kind: 'vendor', id: '1451974063.123', source: 'yt' }])
  const missed = cdrReport('yt', { ...base, callType: 'inbound', disposition: 'NO ANSWER', billSeconds: 0, uniqueId: '' }, start)
  t.match(missed, { direction: 'inbound', phone: '88851977744', disposition: 'missed', talkSeconds: 0, answeredAt: null, ringSeconds: 12 })
  t.same(missed.recordings, [])
  t.same(missed.vendorIds, { id: '46470' })
  t.equal(cdrReport('yt', { ...base, disposition: 'NO ANSWER', billSeconds: 0 }, start).disposition, 'failed', 'an outbound call nobody answered is failed (未接通)')
  t.same(cdrReport('yt', { ...base, disposition: 'NO ANSWER', billSeconds: 0 }, start).recordings, [], 'no recording for a call that never talked')
  t.equal(cdrReport('yt', { ...base, disposition: 'BUSY', billSeconds: 0 }, start).disposition, 'busy')
  t.equal(cdrReport('yt', { ...base, disposition: 'FAILED', billSeconds: 0 }, start).disposition, 'failed')
  t.equal(cdrReport('yt', { ...base, disposition: 'UNKNOWN', billSeconds: 0 }, start).disposition, null, 'UNKNOWN leaves it to what else is known')
  t.equal(cdrReport('yt', { ...base, callType: 'predictive' }, start).direction, 'outbound')
  t.match(cdrReport('yt', base, null), { startedAt: null, answeredAt: null, endedAt: null })
  t.match(staffAgent('yt', '8001', { status: 18, statusText: '小休', extension: '8001', callerNum: null }), { presence: 'away', loggedIn: true, channels: ['8001'] })
  t.match(staffAgent('yt', '8001', { status: 19, statusText: '正忙', extension: '8001', callerNum: null }), { presence: 'busy' })
  t.match(staffAgent('yt', '8001', { status: 0, statusText: '空闲', extension: '8001', callerNum: null }), { presence: null, loggedIn: true })
  t.match(staffAgent('yt', '8001', { errno: 5 }), { presence: 'offline', loggedIn: false })
})

t.test('ring → answer → hang-up, a missed call and a busy one: one record each, line and CDR merged', async (t) => {
  const { sim } = await startYantong({ ringMs: 250, talkMs: 1300 }, t)
  const r = await daemonRig({ sources: [source(sim)] }, { t, sse: true })
  await until(() => r.daemon.sources.get('yt')!.status === 'connected', 3000, 'connected')
  await until(() => (r.daemon.sources.get('yt') as any).cursor !== null, 3000, 'cursor set')
  sim.incoming('8001', '13800138000')
  sim.incoming('8002', '13900139000', 'no-answer')
  await until(() => rows(r).length === 2 && rows(r).every((x) => x.inputs.includes('log')) && rows(r).length === 2, 15_000, 'two calls with their records')
  sim.incoming('8002', '13700137000', 'busy')
  await until(() => rows(r).length === 3, 3000, 'the busy call')
  await new Promise((res) => setTimeout(res, 300)) // a few more polls: nothing new may appear
  const all = rows(r)
  t.equal(all.length, 3, 'one record per call')
  const a = all.find((x) => x.channel === '8001')
  const [m, b] = all.filter((x) => x.channel === '8002')
  const cdr = sim.cdrs.find((c) => c.staffid === '8001')!
  t.match(a, { channel: '8001', agent: '8001', direction: 'inbound', phone: '13800138000', disposition: 'answered', talk_s: 1, inputs: 'line,log' })
  t.equal(a!.vendor_ids.id, cdr.id)
  t.ok(cdr.uniqueid)
  t.equal(a!.vendor_ids.uniqueid, cdr.uniqueid)
  t.same(a!.recordings, [{ kind: 'vendor', id: cdr.uniqueid, source: 'yt' }])
  t.match(m, { channel: '8002', direction: 'inbound', phone: '13900139000', disposition: 'missed', talk_s: 0, inputs: 'line,log' })
  t.same(m!.recordings, [])
  t.match(b, { channel: '8002', disposition: 'busy', talk_s: 0, inputs: 'log' })
  const ended = r.sse!.events.filter((e) => e.event === 'call.ended').map((e) => e.data as any)
  t.equal(ended.length, 3, 'call.ended once per call')
  t.equal(new Set(ended.map((e) => e.id)).size, 3)
  // the recording the CDR names plays through telbridge (the last event of the call has it)
  const detail = r
    .sse!.events.filter((e) => e.event.startsWith('call.') && (e.data as any).id === a!.id)
    .map((e) => e.data as any)
    .at(-1)
  const rec = await fetch(r.api + detail.recordings[0].url)
  t.equal(rec.status, 200)
  t.equal(rec.headers.get('content-type')?.startsWith('audio/'), true)
  await rec.arrayBuffer()
  // staff are agents, with their line
  t.match(r.daemon.agents.get('yt:8001'), { source: 'yt', agent: '8001', channels: ['8001'] })
})

t.test('calls while telbridge is down come in once from the cursor; a full re-poll adds nothing; history before the first start fills the log without cdr events', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tb-ytc-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const cursor = join(dir, 'yt.cursor')
  const { sim } = await startYantong({ ringMs: 30, talkMs: 0 }, t)
  sim.addCdr({ src: '8001', dst: '13600136000', staffid: '8001', exten: '8001', uniqueid: '1700000000.1', calltype: '0' }) // before telbridge ever ran
  const cfg = (extra: Record<string, unknown> = {}) => ({ dataDir: dir, sources: [source(sim, { cdrCursorFile: cursor, ...extra })] })
  let r = await daemonRig(cfg(), { t })
  await until(() => rows(r).length === 1, 3000, 'the record from before the first start')
  t.match(rows(r)[0], { inputs: 'log', disposition: 'answered', phone: '13600136000' })
  t.same(rows(r)[0]!.recordings, [{ kind: 'vendor', id: '1700000000.1', source: 'yt' }])
  t.equal(r.daemon.bus.published.get('cdr') ?? 0, 0, 'history makes no cdr events')
  await r.stop()

  // telbridge is down: two calls happen
  sim.addCdr({ src: '13500135000', dst: '8002', staffid: '8002', exten: '8002', calltype: '1', disposition: 'NO ANSWER', billsec_int: '0' })
  sim.addCdr({ src: '8001', dst: '13400134000', staffid: '8001', exten: '8001', calltype: '0', disposition: 'BUSY', billsec_int: '0' })
  r = await daemonRig(cfg(), { t })
  await until(() => rows(r).length === 3, 3000, 'the two calls made while down')
  t.same(
    rows(r)
      .map((x) => x.disposition)
      .sort(),
    ['answered', 'busy', 'missed'],
  )
  await new Promise((res) => setTimeout(res, 200))
  t.equal(rows(r).length, 3)
  await r.stop()

  // the cursor lost, everything read again (cdrStart all): the vendor ids find every record
  await rm(cursor)
  r = await daemonRig(cfg({ cdrStart: 'all' }), { t, sse: true })
  await until(() => (r.daemon.bus.published.get('cdr') ?? 0) === 3, 3000, 'the three records read again')
  await new Promise((res) => setTimeout(res, 100))
  t.equal(rows(r).length, 3, 'no record twice')
  t.equal(r.sse!.events.filter((e) => e.event.startsWith('call.')).length, 0, 'and nothing announced: nothing changed')
})
