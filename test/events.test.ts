import t from 'tap'
import { EventBus } from '../daemon/core/events.js'

t.test('ids increase; since() replays exactly what came after', async (t) => {
  const bus = new EventBus(100, { firstId: 1 })
  for (let i = 0; i < 10; i++) bus.publish('x', { i })
  t.equal(bus.lastId, 10)
  const r = bus.since(7)
  t.equal(r.gap, false)
  t.same(
    r.events.map((e) => e.id),
    [8, 9, 10],
  )
  t.match(r.events[0]!.wire, /^id: 8\nevent: x\ndata: \{"i":7\}\n\n$/)
  t.same(bus.since(10), { events: [], gap: false })
  t.equal(bus.since(0).gap, false, 'the whole history is still buffered')
  t.equal(bus.since(0).events.length, 10)
})

t.test('a position older than the ring, or in the future, is a gap', async (t) => {
  const bus = new EventBus(100, { firstId: 1 })
  for (let i = 0; i < 250; i++) bus.publish('x', i)
  t.equal(bus.oldestId, 151)
  t.equal(bus.since(150).gap, false)
  t.equal(bus.since(150).events.length, 100)
  const old = bus.since(149)
  t.equal(old.gap, true)
  t.equal(old.events[0]!.id, 151)
  t.equal(bus.since(999).gap, true, 'an id from before a restart')
})

t.test('a throwing subscriber does not stop the others', async (t) => {
  const bus = new EventBus(10)
  let got = 0
  bus.subscribe(() => {
    throw new Error('boom')
  })
  bus.subscribe(() => got++)
  bus.publish('x', 1)
  t.equal(got, 1)
})

t.test('stream subscribers get one encoded batch per tick', async (t) => {
  const bus = new EventBus(100, { firstId: 1 })
  const batches: { firstId: number; lastId: number; text: string }[] = []
  bus.subscribeBatches((b) => batches.push({ firstId: b.firstId, lastId: b.lastId, text: b.bytes.toString('utf8') }))
  bus.publish('x', '南京')
  bus.publish('x', 2)
  bus.publish('y', 3)
  t.equal(batches.length, 0, 'nothing until the tick ends')
  await new Promise((r) => setImmediate(r))
  t.equal(batches.length, 1)
  t.same([batches[0]!.firstId, batches[0]!.lastId], [1, 3])
  t.equal(
    batches[0]!.text,
    bus
      .since(0)
      .events.map((e) => e.wire)
      .join(''),
  )
  t.equal(bus.bytesPublished, Buffer.byteLength(batches[0]!.text))
  bus.publish('z', 4)
  await new Promise((r) => setImmediate(r))
  t.same([batches[1]!.firstId, batches[1]!.lastId], [4, 4])
})
