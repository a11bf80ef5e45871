import t from 'tap'
import { request } from 'node:http'
import { getJson, SseReader } from './helpers/sse.js'
import { apiJson, boxPost, boxRig, MAC, SOURCE, statusJson } from './helpers/boxes.js'

const poll = (ingest: string, mac = MAC) => boxPost(`${ingest}/upload_record`, { cmd: 'getMessageList', satellite: mac })

t.test('getMessageList long poll and the command queue', async (t) => {
  const rig = await boxRig({ longPollSeconds: 1.5, commandTtlSeconds: 0.4 })
  t.teardown(() => rig.stop())
  const sse = await SseReader.open(`${rig.api}/v1/events`)
  t.teardown(() => sse.close())
  await boxPost(`${rig.ingest}/upload_record`, { cmd: 'channelstatus', satellite: MAC, status: statusJson([1, 1]) })

  await t.test('no command: held, then 3003', async (t) => {
    const t0 = Date.now()
    const r = await poll(rig.ingest)
    const held = Date.now() - t0
    t.equal(r.status, 200)
    t.equal(r.body.status, 3003)
    t.match(r.body.time, /^\d{13}$/)
    t.ok(held >= 1400, `held ${held} ms (longPollSeconds 1.5)`)
  })

  await t.test('a dial queued while a poll waits reaches it at once, in the vendor shape', async (t) => {
    const pending = poll(rig.ingest)
    await new Promise((r) => setTimeout(r, 200))
    t.ok(rig.daemon.boxes.isPolling('000000000001'), 'the poll is held')
    const t0 = performance.now()
    const q = await apiJson(`${rig.api}/v1/devices/${MAC}/commands`, { method: 'POST', body: { type: 'dial', channel: 2, phone: '13800138000', memo: { crm: 'lead-7' } } })
    const r = await pending
    const ms = performance.now() - t0
    t.equal(q.status, 202)
    t.equal(q.body.command.state, 'queued')
    t.same(r.body, { data: [{ status: '0', mdcWan: '2', mdcCode: '1', phone: '13800138000', memo: { crm: 'lead-7' } }], status: 0 })
    t.ok(ms < 100, `queued → answered in ${ms.toFixed(1)} ms (< 100)`)
    const delivered = await sse.next((e) => e.event === 'command' && (e.data as any).id === q.body.command.id && (e.data as any).state === 'delivered')
    t.ok(delivered)
  })

  await t.test('a command queued before the poll is answered at once; several go in one answer', async (t) => {
    for (const c of [
      { type: 'hangup', channel: 1 },
      { type: 'answer', channel: 2 },
      { type: 'web', channel: 1, memo: { functionname: 'list', paramvalue: 'a=b&c=d' } },
    ]) {
      t.equal((await apiJson(`${rig.api}/v1/devices/000000000001/commands`, { method: 'POST', body: c })).status, 202)
    }
    t.equal((await getJson(`${rig.api}/v1/devices/${MAC}/commands`)).body.commands.length, 3)
    const r = await poll(rig.ingest)
    t.same(
      r.body.data.map((d: any) => [d.status, d.mdcWan]),
      [
        ['2', '1'],
        ['1', '2'],
        ['51', '1'],
      ],
    )
    t.same(r.body.data[2].memo, { functionname: 'list', paramvalue: 'a=b&c=d' })
    t.equal((await getJson(`${rig.api}/v1/devices/${MAC}/commands`)).body.commands.length, 0)
  })

  await t.test('a second poll supersedes the first (3003) and gets the command', async (t) => {
    const first = poll(rig.ingest)
    await new Promise((r) => setTimeout(r, 100))
    const second = poll(rig.ingest)
    const a = await first
    t.equal(a.body.status, 3003, 'the first poll is released')
    await new Promise((r) => setTimeout(r, 50))
    await apiJson(`${rig.api}/v1/devices/${MAC}/commands`, { method: 'POST', body: { type: 'dial', channel: 1, phone: '10086' } })
    const b = await second
    t.equal(b.body.status, 0)
    t.equal(b.body.data[0].phone, '10086')
  })

  await t.test('a poll whose client went away does not swallow the command', async (t) => {
    const req = request(`${rig.ingest}/upload_record`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    req.on('error', () => {})
    req.end(new URLSearchParams({ cmd: 'getMessageList', satellite: MAC }).toString())
    await new Promise((r) => setTimeout(r, 150))
    t.ok(rig.daemon.boxes.isPolling('000000000001'))
    req.destroy()
    await new Promise((r) => setTimeout(r, 100))
    t.notOk(rig.daemon.boxes.isPolling('000000000001'), 'the dead poll is forgotten')
    await apiJson(`${rig.api}/v1/devices/${MAC}/commands`, { method: 'POST', body: { type: 'dial', channel: 1, phone: '10010' } })
    const r = await poll(rig.ingest)
    t.equal(r.body.data[0].phone, '10010')
  })

  await t.test('an unclaimed command expires after commandTtlSeconds with an event', async (t) => {
    const q = await apiJson(`${rig.api}/v1/devices/${MAC}/commands`, { method: 'POST', body: { type: 'dial', channel: 1, phone: '95555' } })
    const e = await sse.next((x) => x.event === 'command' && (x.data as any).id === q.body.command.id && (x.data as any).state === 'expired', 3000)
    t.equal((e.data as any).phone, '95555')
    t.equal((await getJson(`${rig.api}/v1/devices/${MAC}/commands`)).body.commands.length, 0)
    const r = await boxPost(`${rig.ingest}/upload_record`, { cmd: 'getMessageList', satellite: MAC })
    t.equal(r.body.status, 3003, 'the expired command is not delivered')
  })

  await t.test('a waiting command can be cancelled', async (t) => {
    const q = await apiJson(`${rig.api}/v1/devices/${MAC}/commands`, { method: 'POST', body: { type: 'dial', channel: 1, phone: '1' } })
    const d = await apiJson(`${rig.api}/v1/devices/${MAC}/commands/${q.body.command.id}`, { method: 'DELETE' })
    t.equal(d.body.command.state, 'cancelled')
    t.equal((await apiJson(`${rig.api}/v1/devices/${MAC}/commands/${q.body.command.id}`, { method: 'DELETE' })).status, 404)
  })

  await t.test('bad commands are refused with specific errors', async (t) => {
    const bad: [unknown, RegExp][] = [
      [{ type: 'explode', channel: 1 }, /type must be one of dial, answer, hangup, web/],
      [{ type: 'dial', channel: 1 }, /dial needs phone/],
      [{ type: 'dial', channel: 1, phone: '138; rm -rf' }, /dial needs phone/],
      [{ type: 'dial', channel: 0, phone: '1' }, /channel/],
      [{ type: 'dial', phone: '1' }, /channel/],
      [{ type: 'dial', channel: 1, phone: '1', memo: [1] }, /memo/],
      [{ type: 'dial', channel: 1, phone: '1', extra: 1 }, /unknown key "extra"/],
      ['dial', /JSON object/],
    ]
    for (const [body, re] of bad) {
      const r = await apiJson(`${rig.api}/v1/devices/${MAC}/commands`, { method: 'POST', body })
      t.equal(r.status, 400, JSON.stringify(body))
      t.match(r.body.error.message, re)
    }
    t.equal((await apiJson(`${rig.api}/v1/devices/00:00:00:00:00:09/commands`, { method: 'POST', body: { type: 'hangup', channel: 1 } })).status, 404)
  })

  await t.test('control() on the box source queues box commands', async (t) => {
    const box = rig.daemon.sources.get(SOURCE)!
    const res = await box.control!({ action: 'dial', source: SOURCE, phone: '12345' })
    t.match((res.vendor as any).command, { type: 'dial', channel: '1', phone: '12345', state: 'queued' }, 'lowest idle port when none is given')
    const h = await box.control!({ action: 'hangup', source: SOURCE, channel: '2' })
    t.match((h.vendor as any).command, { type: 'hangup', channel: '2' })
    await t.rejects(box.control!({ action: 'transfer', source: SOURCE, channel: '1' }), { name: 'UnsupportedAction' })
    await t.rejects(box.control!({ action: 'hangup', source: SOURCE }), /needs a channel/)
    const r = await poll(rig.ingest)
    t.same(
      r.body.data.map((d: any) => [d.status, d.mdcWan, d.phone]),
      [
        ['0', '1', '12345'],
        ['2', '2', ''],
      ],
    )
  })

  await t.test('an unknown box polling gets 3001 at once', async (t) => {
    const t0 = Date.now()
    const r = await poll(rig.ingest, '00:00:00:00:00:42')
    t.equal(r.body.status, 3001)
    t.ok(Date.now() - t0 < 1000)
  })
})

t.test('a held poll does not count as silence; stop releases held polls', async (t) => {
  const rig = await boxRig({ longPollSeconds: 5, offlineSeconds: 0.3 })
  await boxPost(`${rig.ingest}/upload_record`, { cmd: 'channelstatus', satellite: MAC, status: statusJson([1]) })
  const pending = poll(rig.ingest)
  await new Promise((r) => setTimeout(r, 700))
  t.equal(rig.daemon.sources.get(SOURCE)!.status, 'connected', 'a box holding a poll is there')
  const t0 = Date.now()
  const stopping = rig.stop()
  const r = await pending.catch((e) => ({ status: 0, body: { status: String(e) } }))
  await stopping
  t.ok(Date.now() - t0 < 3000, 'stop does not wait for the poll to run out')
  t.ok(r.body.status === 3003 || r.status === 0 || r.status === 503, `poll ended: ${JSON.stringify(r.body)}`)
})
