import t from 'tap'
import { ChannelTable, entryJson, type ChannelChange } from '../daemon/table.js'

t.test('create, update, no-op update emits nothing', async (t) => {
  let now = 1000
  const table = new ChannelTable({ now: () => now })
  const changes: ChannelChange[] = []
  table.onChange((c) => changes.push({ ...c, entry: { ...c.entry } }))
  table.update('lq1', '2', { state: 'ringing', phone: '02586307627', direction: 'inbound', agent: '801' })
  t.same(changes[0]!.changed, ['created'])
  t.equal(changes[0]!.entry.state, 'ringing')
  now = 2000
  t.equal(table.update('lq1', '2', { state: 'ringing', phone: '02586307627' }), null, 'same values: no change')
  t.equal(changes.length, 1)
  now = 3000
  const c = table.update('lq1', '2', { state: 'talking' })!
  t.same(c.changed, ['state'])
  t.equal(c.previousState, 'ringing')
  t.equal(c.entry.since, 3000)
  now = 4000
  table.update('lq1', '2', { agent: '802' })
  const e = table.get('lq1:2')!
  t.equal(e.since, 3000, 'since moves only with state')
  t.equal(e.updatedAt, 4000)
  t.equal(e.agent, '802')
  t.equal(table.update('lq1', '2', { vendor: { a: 1 } })!.changed[0], 'vendor')
  t.equal(table.update('lq1', '2', { vendor: { a: 1 } }), null, 'vendor compared by value')
  const j = entryJson(e)
  t.equal(j.since, new Date(3000).toISOString())
  t.same(Object.keys(j).sort(), ['agent', 'callId', 'channel', 'direction', 'id', 'phone', 'since', 'source', 'state', 'updatedAt', 'vendor'])
})

t.test('indexes by source and by state stay exact', async (t) => {
  const table = new ChannelTable()
  for (let i = 0; i < 50; i++) table.update(i % 2 ? 'a' : 'b', String(i), { state: i % 3 ? 'idle' : 'ringing' })
  t.equal(table.list({ source: 'a' }).length, 25)
  t.equal(table.list({ state: 'ringing' }).length, 17)
  t.equal(table.list({ source: 'a', state: 'ringing' }).length, table.list().filter((e) => e.source === 'a' && e.state === 'ringing').length)
  table.updateSource('a', { state: 'unknown' })
  t.equal(table.list({ state: 'unknown' }).length, 25)
  t.equal(table.list({ source: 'a', state: 'idle' }).length, 0)
  const counts = table.countByState()
  t.equal(Object.values(counts).reduce((a, b) => a + b, 0), 50)
  t.ok(table.remove('b:0'))
  t.notOk(table.remove('b:0'))
  t.equal(table.size, 49)
  t.equal(table.list({ source: 'nope' }).length, 0)
})
