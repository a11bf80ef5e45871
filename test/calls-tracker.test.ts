import t from 'tap'
import { daemonRig } from './helpers/rig.js'
import { until } from './helpers/sse.js'
import type { Call } from '../daemon/core/calls/types.js'

/** The call tracker through a real daemon and its SQLite file: line state, reports, merging, restart. */

const calls = (r: Awaited<ReturnType<typeof daemonRig>>) =>
  r.daemon.db!.prepare('SELECT id, disposition, phone, talk_s, ring_s, inputs, vendor_ids FROM calls ORDER BY started_ms').all() as Record<string, unknown>[]

t.test('ring → answer → hang-up is one answered record; ring → idle is one missed', async (t) => {
  const r = await daemonRig({}, { t, sse: true })
  const tb = r.daemon.table
  tb.update('x', '1', { state: 'idle' })
  tb.update('x', '1', { state: 'ringing', phone: '13800138000', direction: 'inbound' })
  tb.update('x', '1', { state: 'talking' })
  tb.update('x', '1', { state: 'idle', phone: null })
  tb.update('x', '2', { state: 'ringing', phone: '02088886666', direction: 'inbound' })
  tb.update('x', '2', { state: 'idle' })
  const ended = await until(() => (r.sse!.events.filter((e) => e.event === 'call.ended').length === 2 ? r.sse!.events.filter((e) => e.event === 'call.ended') : null))
  const [a, b] = ended.map((e) => e.data as Record<string, unknown>)
  t.equal(a!.disposition, 'answered')
  t.equal(a!.phone, '13800138000')
  t.equal(a!.channelId, 'x:1')
  t.equal(b!.disposition, 'missed')
  t.equal(b!.talkSeconds, 0)
  const order = r.sse!.events.filter((e) => e.event.startsWith('call.')).map((e) => `${e.event} ${(e.data as { channel: string }).channel}`)
  t.same(order, ['call.started 1', 'call.answered 1', 'call.started 2', 'call.ended 1', 'call.ended 2'])
  t.equal(calls(r).length, 2)
})

t.test('a vendor log record of a call seen live merges into it; one it never saw is a new record', async (t) => {
  const r = await daemonRig({}, { t })
  const tb = r.daemon.table
  tb.update('y', '801', { state: 'idle' })
  tb.update('y', '801', { state: 'dialing', phone: '13900001111', direction: 'outbound', agent: '801' })
  tb.update('y', '801', { state: 'talking' })
  const started = Date.now()
  tb.update('y', '801', { state: 'idle' })
  await until(() => calls(r).length === 1)
  const merged = (await r.daemon.calls.report({
    source: 'y',
    input: 'log',
    agent: '801',
    phone: '013900001111',
    startedAt: started - 3000,
    endedAt: started,
    talkSeconds: 42,
    vendorIds: { uniqueid: 'u-1' },
  })) as Call
  t.equal(calls(r).length, 1, 'one record for one call')
  t.equal(merged.talkSeconds, 42, "the vendor's talk time wins")
  t.same(merged.vendorIds, { uniqueid: 'u-1' })
  t.same(merged.inputs, ['line', 'log'])
  // the same log record again (a re-poll): found by its id, still one record
  await r.daemon.calls.report({ source: 'y', input: 'log', agent: '801', phone: '013900001111', startedAt: started - 3000, endedAt: started, talkSeconds: 42, vendorIds: { uniqueid: 'u-1' } })
  t.equal(calls(r).length, 1)
  // a call while telbridge was down
  const old = Date.now() - 3600_000
  await r.daemon.calls.report({ source: 'y', input: 'log', agent: '802', phone: '1', startedAt: old, endedAt: old + 60_000, disposition: 'busy', vendorIds: { uniqueid: 'u-2' } })
  t.equal(calls(r).length, 2)
  t.equal(calls(r)[0]!.disposition, 'busy')
})

t.test('the log survives a restart', async (t) => {
  const r = await daemonRig({}, { t })
  r.daemon.table.update('z', '1', { state: 'ringing', phone: '5' })
  r.daemon.table.update('z', '1', { state: 'idle' })
  await until(() => calls(r).length === 1)
  const dir = r.dir!
  await r.daemon.stop()
  const r2 = await daemonRig({ dataDir: dir }, { t })
  t.equal(calls(r2).length, 1)
  await r2.stop()
})

t.test('a new call id on a line still ringing (pop-only sources see no hang-up) is a new call', async (t) => {
  const r = await daemonRig({}, { t })
  const tb = r.daemon.table
  tb.update('p', '3', { state: 'ringing', phone: '111', direction: 'inbound', callId: 'a' })
  tb.update('p', '3', { state: 'ringing', phone: '222', direction: 'inbound', callId: 'b' })
  await until(() => calls(r).length === 1)
  t.equal(calls(r)[0]!.phone, '111')
  t.equal(calls(r)[0]!.disposition, 'unknown', 'the first call was not seen to end')
  t.equal(r.daemon.calls.activeOn('p:3')?.phone, '222')
})

t.test('a call only a vendor push started, never finished, is written with its end unknown after the stale time', async (t) => {
  const r = await daemonRig({}, { t })
  await r.daemon.calls.report({ source: 'g', input: 'push', phone: '333', startedAt: Date.now() - 10_000, vendorIds: { callid: 'x1' } })
  t.equal(r.daemon.calls.activeCount, 1)
  t.equal(r.daemon.calls.sweepStale(60_000), 0, 'not yet stale')
  t.equal(r.daemon.calls.sweepStale(0), 1)
  await until(() => calls(r).length === 1)
  t.equal(r.daemon.calls.activeCount, 0)
})
