import t from 'tap'
import { CHANNEL_STATES, ChannelTable, entryJson, type ChannelChange, type ChannelPatch, type ChannelState } from '../daemon/core/table.js'

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

t.test('quiet vendor keys: kept fresh without an event, listed beside another change', async (t) => {
  let now = 1000
  const table = new ChannelTable({ now: () => now })
  const changes: ChannelChange[] = []
  table.onChange((c) => changes.push({ ...c, entry: { ...c.entry } }))
  const quiet = ['timelen']
  table.update('box', '1', { state: 'talking', vendor: { timelen: 1, peer: '2' } }, quiet)
  t.same(changes[0]!.changed, ['created'])
  now = 2000
  t.equal(table.update('box', '1', { state: 'talking', vendor: { timelen: 2, peer: '2' } }, quiet), null, 'a quiet key alone: no change')
  t.equal(changes.length, 1)
  const e = table.get('box:1')!
  t.same(e.vendor, { timelen: 2, peer: '2' }, 'the entry has the fresh value')
  t.equal(e.updatedAt, 1000, 'updatedAt stays with the last published change')
  t.equal(table.update('box', '1', { vendor: { timelen: 2, peer: '1' } }, quiet)!.changed[0], 'vendor', 'another vendor key is a change')
  now = 3000
  const c = table.update('box', '1', { state: 'idle', vendor: { timelen: 3, peer: '1' } }, quiet)!
  t.same(c.changed, ['state', 'vendor'], 'a quiet key that changed beside another field is listed')
  t.same(c.entry.vendor, { timelen: 3, peer: '1' })
  t.equal(c.entry.updatedAt, 3000)
  t.equal(table.update('box', '1', { vendor: { timelen: 4, peer: '1', extra: 1 } }, quiet)!.changed[0], 'vendor', 'a key more is a change')
  t.equal(table.update('box', '1', { vendor: { timelen: 5, peer: '1', extra: 1 } })!.changed[0], 'vendor', 'without quiet: every key counts')
  t.equal(table.update('box', '1', { vendor: null }, quiet)!.changed[0], 'vendor')
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
  t.equal(
    Object.values(counts).reduce((a, b) => a + b, 0),
    50,
  )
  t.ok(table.remove('b:0'))
  t.notOk(table.remove('b:0'))
  t.equal(table.size, 49)
  t.equal(table.list({ source: 'nope' }).length, 0)
})

t.test('entries carry no extra visible fields', async (t) => {
  const table = new ChannelTable({ now: () => 5000 })
  table.update('lq1', '1', { state: 'idle' })
  table.update('lq1', '2', { state: 'idle' })
  table.update('lq1', '1', { state: 'ringing' })
  const fields = ['agent', 'callId', 'channel', 'direction', 'id', 'phone', 'since', 'source', 'state', 'updatedAt', 'vendor']
  for (const e of table.list()) {
    t.same(Object.keys(e).sort(), fields, 'Object.keys')
    t.same(Object.keys({ ...e }).sort(), fields, 'spread')
    t.same(Object.getOwnPropertySymbols({ ...e }), [], 'no symbol copied by a spread')
    t.same(Object.keys(JSON.parse(JSON.stringify(e)) as object).sort(), fields, 'JSON.stringify')
    t.same(Object.keys(entryJson(e)).sort(), fields, 'entryJson')
  }
  t.equal(table.lookup('lq1', '1'), table.get('lq1:1'))
  t.equal(table.lookup('lq1', '3'), undefined)
  t.equal(table.lookup('lq9', '1'), undefined)
})

t.test('random operations keep every index equal to a brute-force recomputation', async (t) => {
  // deterministic LCG so a failure reproduces
  let seed = 987654321
  const rnd = (n: number) => (seed = (seed * 1664525 + 1013904223) >>> 0) % n
  const SOURCES = ['s0', 's1', 's2', 's3', 's4']
  const CHANNELS = 60
  let now = 0
  const table = new ChannelTable({ now: () => ++now })
  // the naive model: id → { source, channel, state }
  const model = new Map<string, { source: string; channel: string; state: ChannelState }>()
  let events = 0
  let lastChange: ChannelChange | null = null
  table.onChange((c) => {
    events++
    lastChange = c
  })
  const sortIds = (es: { id: string }[]) => es.map((e) => e.id).sort()
  const check = (label: string) => {
    t.equal(table.size, model.size, `${label}: size`)
    const all = [...model.entries()].map(([id, m]) => ({ id, ...m }))
    t.same(sortIds(table.list()), sortIds(all), `${label}: list()`)
    for (const e of table.list()) {
      const m = model.get(e.id)
      if (!m || m.state !== e.state || m.source !== e.source || m.channel !== e.channel) t.fail(`${label}: entry ${e.id} differs from the model`)
    }
    const counts = table.countByState()
    for (const st of CHANNEL_STATES) {
      const want = all.filter((e) => e.state === st)
      t.equal(counts[st], want.length, `${label}: countByState ${st}`)
      t.same(sortIds(table.list({ state: st })), sortIds(want), `${label}: list({state: ${st}})`)
    }
    for (const src of [...SOURCES, 'nope']) {
      const want = all.filter((e) => e.source === src)
      t.equal(table.countBySource(src), want.length, `${label}: countBySource ${src}`)
      t.same(sortIds(table.list({ source: src })), sortIds(want), `${label}: list({source: ${src}})`)
      for (const st of CHANNEL_STATES) {
        const got = table.list({ source: src, state: st })
        t.same(sortIds(got), sortIds(want.filter((e) => e.state === st)), `${label}: list({source: ${src}, state: ${st}})`)
      }
    }
    for (const [id, m] of model) {
      const e = table.get(id)
      if (!e || table.lookup(m.source, m.channel) !== e) t.fail(`${label}: get/lookup for ${id}`)
    }
  }
  const OPS = 10_000
  let removes = 0
  let sourceUpdates = 0
  for (let op = 0; op < OPS; op++) {
    const r = rnd(100)
    const source = SOURCES[rnd(SOURCES.length)]!
    if (r < 80) {
      const channel = String(rnd(CHANNELS))
      const id = `${source}:${channel}`
      const state = rnd(4) === 0 ? undefined : CHANNEL_STATES[rnd(CHANNEL_STATES.length)]!
      const patch: ChannelPatch = { state, agent: rnd(3) === 0 ? String(rnd(3)) : undefined }
      const before = model.get(id)
      const ev0 = events
      const c = table.update(source, channel, patch)
      if (!before) {
        model.set(id, { source, channel, state: state ?? 'unknown' })
        if (c?.changed[0] !== 'created') t.fail(`op ${op}: create not reported`)
      } else {
        if (state !== undefined) before.state = state
        if (c && c.changed.includes('state') !== (c.previousState !== c.entry.state)) t.fail(`op ${op}: 'state' in changed ≠ a state change`)
      }
      if ((c === null) !== (events === ev0)) t.fail(`op ${op}: an event iff a change`)
    } else if (r < 92) {
      const id = `${source}:${rnd(CHANNELS)}`
      const had = model.delete(id)
      if (table.remove(id) !== had) t.fail(`op ${op}: remove(${id}) ≠ ${had}`)
      if (had) {
        removes++
        const lc = lastChange as ChannelChange | null
        if (lc?.changed[0] !== 'removed' || lc.entry.id !== id) t.fail(`op ${op}: remove not reported`)
      }
    } else {
      const state = CHANNEL_STATES[rnd(CHANNEL_STATES.length)]!
      let want = 0
      for (const m of model.values()) {
        if (m.source !== source) continue
        if (m.state !== state) want++
        m.state = state
      }
      t.equal(table.updateSource(source, { state }), want, `op ${op}: updateSource count`)
      sourceUpdates++
    }
    if (op % 1000 === 999) check(`after op ${op + 1}`)
  }
  check('end')
  t.ok(removes > 100 && sourceUpdates > 100, `exercised removes (${removes}) and updateSource (${sourceUpdates})`)
  // drain: remove everything, then the table must be empty everywhere
  for (const id of [...model.keys()]) t.ok(table.remove(id))
  model.clear()
  check('drained')
  t.same(
    Object.values(table.countByState()),
    CHANNEL_STATES.map(() => 0),
  )
})

t.test('ids that collide (a source id with ":") stay one entry, indexes consistent', async (t) => {
  const table = new ChannelTable()
  table.update('a:b', 'c', { state: 'idle' })
  t.equal(table.update('a', 'b:c', { state: 'ringing' })?.changed[0], 'state', 'updates the existing entry')
  t.equal(table.size, 1)
  t.equal(table.get('a:b:c')?.state, 'ringing')
  t.equal(table.list({ state: 'ringing' }).length, 1)
  t.equal(table.list({ state: 'idle' }).length, 0)
  t.ok(table.remove('a:b:c'))
  t.equal(table.size, 0)
  t.same(table.list(), [])
  t.equal(table.countBySource('a:b'), 0)
  t.equal(table.countBySource('a'), 0)
})
