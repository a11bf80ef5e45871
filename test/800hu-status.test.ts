import t from 'tap'
import { normaliseMac, formatMac } from '../protocols/800hu/mac.js'
import { parseBoxStatus, StatusError } from '../devices/800hu/status.js'
import { MAX_FIELDS, parseForm, requestFields } from '../devices/800hu/fields.js'
import { parseConfig } from '../daemon/config.js'
import { getJson, SseReader, until } from './helpers/sse.js'
import { boxPost, boxRig, MAC, SOURCE, statusJson } from './helpers/boxes.js'

t.test('MAC normalisation: case, : - or nothing; anything else refused', async (t) => {
  for (const m of ['00:0A:bc:DE:f0:01', '00-0a-BC-de-F0-01', '000ABCDEF001', ' 000abcdef001 ']) t.equal(normaliseMac(m), '000abcdef001', m)
  // issue 12 item 7: five octets are accepted (the seed's own satellite example)
  t.equal(normaliseMac('0a:bc:de:f0:01'), '000abcdef001')
  for (const m of ['00:0a:bc:de', '00:0a-bc:de:f0:01', '000abcdef0011', 'gg0abcdef001', '', '00:0a:bc:de:f0:01:']) t.equal(normaliseMac(m), null, JSON.stringify(m))
  t.equal(formatMac('000abcdef001'), '00:0a:bc:de:f0:01')
})

t.test('config: allow MACs checked, names keyed by MAC, extra paths', async (t) => {
  const c = parseConfig({ boxes: { allow: ['00-00-00-00-00-01'], names: { '000000000001': 'Front desk' }, paths: ['/box'] } })
  t.same(c.boxes.allow, ['00-00-00-00-00-01'])
  t.equal(c.boxes.offlineSeconds, 90)
  t.equal(c.boxes.longPollSeconds, 25)
  t.equal(c.boxes.commandTtlSeconds, 60)
  t.throws(() => parseConfig({ boxes: { allow: ['nope'] } }), /boxes\.allow\[0\]: expected a MAC address/)
  t.throws(() => parseConfig({ boxes: { names: { nope: 'x' } } }), /boxes\.names\.nope/)
  t.throws(() => parseConfig({ boxes: { paths: ['/upload_record'] } }), /boxes\.paths\[0\]/)
  t.throws(() => parseConfig({ boxes: { bogus: 1 } }), /boxes\.bogus/)
})

t.test('parseForm reads a form body as URLSearchParams does; requestFields takes it as is only when bounded and alone', async (t) => {
  const bodies = ['a=1&b=2', 'a=1&a=2', 'a', '=v', 'a=b=c', '&&a=1&', 'k+x=v+w', 'a=%E4%B8%AD%2B%26', 'a=%', 'a=%FF', 'a=%ED%A0%80', '?a=1', '__proto__=x', 'a=中 文', '']
  for (const b of bodies) {
    const want = Object.create(null) as Record<string, string>
    for (const [k, v] of new URLSearchParams(b)) want[k] = v
    t.same(Object.entries(parseForm(b)), Object.entries(want), JSON.stringify(b))
  }
  const form = parseForm('cmd=channelstatus&satellite=x')
  t.equal(requestFields({}, form), form, 'no query string: the body as it is')
  t.same({ ...requestFields({ satellite: 'q', extra: '1' }, form) }, { satellite: 'x', extra: '1', cmd: 'channelstatus' }, 'the body wins over the query string')
  const many = parseForm(Array.from({ length: MAX_FIELDS + 5 }, (_, i) => `f${i}=${i}`).join('&'))
  t.equal(Object.keys(requestFields({}, many)).length, MAX_FIELDS, 'more than MAX_FIELDS: bounded as before')
})

t.test('parseBoxStatus: the vendor fields, all or nothing', async (t) => {
  const r = parseBoxStatus(
    JSON.stringify({
      diskUsagePercent: '5',
      diskSize: '29.3G',
      diskSurplusSize: '27.8G',
      diskStatus: -1,
      ip: '127.0.0.1',
      channels: [
        { ch: '1', state: '4', phone: '13800138000', timelen: '12', peer: '2', serial: '1' },
        { ch: 2, state: 0, phone: '', timelen: '', peer: '', serial: '1' },
        { ch: '3', state: '7' },
      ],
    }),
  )
  t.same(r.disk, { usagePercent: 5, size: '29.3G', surplus: '27.8G', status: -1, statusText: 'no disk found' })
  t.equal(r.ip, '127.0.0.1')
  t.same(r.channels[0], { ch: '1', state: 'talking', rawState: 4, phone: '13800138000', direction: 'inbound', peer: '2', timelen: 12, serial: '1' })
  t.equal(r.channels[1]!.state, 'offline')
  t.equal(r.channels[1]!.phone, null)
  t.equal(r.channels[2]!.state, 'unknown', 'a state the document does not list is unknown, not an error')
  t.same(parseBoxStatus({ channels: [] }).channels, [], 'an object (JSON body) is taken as is')
  const bad: unknown[] = [
    '{',
    '[]',
    'null',
    JSON.stringify({ channels: {} }),
    JSON.stringify({ channels: [{ state: 1 }] }),
    JSON.stringify({ channels: [{ ch: 'x', state: 1 }] }),
    JSON.stringify({ channels: [{ ch: 1 }] }),
    JSON.stringify({ channels: [{ ch: 1, state: 'busy' }] }),
    JSON.stringify({
      channels: [
        { ch: 1, state: 1 },
        { ch: '01', state: 1 },
      ],
    }),
    JSON.stringify({ channels: [{ ch: 1, state: 1, phone: { n: 1 } }] }),
    JSON.stringify({ channels: [{ ch: 1, state: 1, timelen: '-3' }] }),
    JSON.stringify({ channels: [{ ch: 1, state: 1, phone: 'a\u0000b' }] }),
    JSON.stringify({ diskStatus: 'ok' }),
    JSON.stringify({ channels: [1] }),
  ]
  for (const b of bad) t.throws(() => parseBoxStatus(b), StatusError, String(b))
})

t.test('box endpoint over HTTP', async (t) => {
  const rig = await boxRig({ offlineSeconds: 0.3, paths: ['/custom/box'] })
  t.teardown(() => rig.stop())
  const sse = await SseReader.open(`${rig.api}/v1/events`)
  t.teardown(() => sse.close())

  await t.test('GET is refused with a JSON error saying POST only', async (t) => {
    for (const p of ['/upload_record', '/voip/api/upload_record', '/voip/api/upload_record.html', '/voip/api/jsondata.html?method=upload_record', '/custom/box']) {
      const r = await getJson(`${rig.ingest}${p}`)
      t.equal(r.status, 405, p)
      t.equal(r.body.error.code, 'METHOD_NOT_ALLOWED')
      t.match(r.body.error.message, /POST only/)
    }
  })

  await t.test('missing satellite → 3002, unknown box → 3001, in the vendor shape', async (t) => {
    let r = await boxPost(`${rig.ingest}/upload_record`, { cmd: 'channelstatus', status: statusJson([1]) })
    t.equal(r.status, 200)
    t.equal(r.body.status, 3002)
    t.match(r.body.time, /^\d{13}$/)
    t.equal(typeof r.body.message, 'string')
    r = await boxPost(`${rig.ingest}/upload_record`, { cmd: 'channelstatus', satellite: '00:00:00:00:00:99', status: statusJson([1]) })
    t.equal(r.body.status, 3001)
    r = await boxPost(`${rig.ingest}/upload_record`, { cmd: 'getMessageList', satellite: 'not-a-mac' })
    t.equal(r.body.status, 3001)
    t.notOk(
      rig.daemon.table.list().some((e) => e.source === '800hu-000000000099'),
      'an unknown box adds nothing',
    )
  })

  await t.test('channelstatus with the vendor fields fills the table, from every body format and path', async (t) => {
    const formats = ['form', 'json', 'query', 'multipart'] as const
    const paths = ['/upload_record', '/voip/api/upload_record', '/voip/api/upload_record.html', '/voip/api/jsondata.html?method=upload_record', '/custom/box']
    for (const [i, as] of formats.entries()) {
      const path = paths[i % paths.length]!
      // each round moves port 1 to another state, so each one is seen to apply
      const state = [2, 3, 4, 1][i]!
      const status = JSON.stringify({
        diskUsagePercent: '5',
        diskSize: '29.3G',
        diskSurplusSize: '27.8G',
        diskStatus: 0,
        ip: '192.168.1.50',
        channels: [
          { ch: '1', state: String(state), phone: '13800138000', timelen: '3', peer: '2', serial: '1' },
          { ch: '2', state: '0', phone: '', timelen: '0', peer: '', serial: '1' },
        ],
      })
      const r = await boxPost(`${rig.ingest}${path}`, { cmd: 'channelstatus', satellite: MAC.toUpperCase().replace(/:/g, '-'), status }, as)
      t.equal(r.status, 200, `${as} ${path}`)
      t.same(Object.keys(r.body).sort(), ['status', 'time'])
      t.equal(r.body.status, 0)
      const e = rig.daemon.table.get(`${SOURCE}:1`)!
      t.equal(e.state, ['ringing', 'dialing', 'talking', 'idle'][i], as)
      t.equal(rig.daemon.table.get(`${SOURCE}:2`)!.state, 'offline')
    }
    await boxPost(`${rig.ingest}/upload_record`, {
      cmd: 'channelstatus',
      satellite: MAC,
      status: JSON.stringify({ channels: [{ ch: '1', state: '4', phone: '13800138000', timelen: '42', peer: '1', serial: '1' }] }),
    })
    const e = rig.daemon.table.get(`${SOURCE}:1`)!
    t.equal(e.state, 'talking')
    t.equal(e.phone, '13800138000')
    t.equal(e.direction, 'outbound')
    t.match(e.vendor, { timelen: 42, peer: '1', serial: '1', state: 4 })
    const ch = await sse.next((x) => x.event === 'channel' && (x.data as any).id === `${SOURCE}:1` && (x.data as any).state === 'talking')
    t.ok(ch)
    const src = await getJson(`${rig.api}/v1/sources/${SOURCE}`)
    t.equal(src.body.status, 'connected')
    t.equal(src.body.type, '800hu')
    t.same(src.body.supports, ['dial', 'hangup', 'answer', 'recordings'])
    t.equal(src.body.channels, 2)
  })

  await t.test('talk time ticking (timelen only) publishes no channel event; GET /v1/channels has it fresh', async (t) => {
    const post = (timelen: number, state = 4) =>
      boxPost(`${rig.ingest}/upload_record`, {
        cmd: 'channelstatus',
        satellite: MAC,
        status: JSON.stringify({ channels: [{ ch: '1', state: String(state), phone: '13800138000', timelen: String(timelen), peer: '1', serial: '1' }] }),
      })
    await post(50)
    const before = rig.daemon.table.get(`${SOURCE}:1`)!
    t.equal(before.state, 'talking')
    const after0 = rig.daemon.bus.lastId
    for (const s of [51, 52, 53]) t.equal((await post(s)).body.status, 0)
    t.equal(rig.daemon.bus.lastId, after0, 'no event for three ticks')
    const got = await getJson(`${rig.api}/v1/channels/${SOURCE}:1`)
    t.equal(got.body.vendor.timelen, 53, 'the channel shows the last timelen')
    t.equal(got.body.updatedAt, new Date(before.updatedAt).toISOString(), 'updatedAt is the last published change')
    // the next real change carries the fresh talk time
    await post(54, 1)
    const ev = await sse.next((x) => x.event === 'channel' && Number(x.id) > after0 && (x.data as any).id === `${SOURCE}:1`)
    t.equal((ev.data as any).state, 'idle')
    t.equal((ev.data as any).vendor.timelen, 54)
    t.same((ev.data as any).changed, ['state', 'phone', 'direction', 'vendor'])
  })

  await t.test('GET /v1/devices: name, IP, disk, last seen, channels', async (t) => {
    const r = await getJson(`${rig.api}/v1/devices`)
    t.equal(r.status, 200)
    const d = r.body.devices[0]
    t.equal(d.mac, MAC)
    t.equal(d.source, SOURCE)
    t.equal(d.ip, '192.168.1.50')
    t.equal(d.remoteAddress, '127.0.0.1')
    t.match(d.disk, { usagePercent: 5, status: 0, statusText: 'ok' })
    t.ok(Date.parse(d.lastSeen) > Date.now() - 10_000)
    t.equal(d.channels.length, 2)
    t.equal(d.online, true)
    t.equal((await getJson(`${rig.api}/v1/devices/000000000001`)).body.mac, MAC)
    t.equal((await getJson(`${rig.api}/v1/devices/00-00-00-00-00-77`)).status, 404)
  })

  await t.test('a malformed status is answered with an error and changes nothing', async (t) => {
    const before = JSON.stringify(rig.daemon.table.list({ source: SOURCE }))
    const bad = [
      '{"channels":[{"ch":"1","state":"1"},',
      JSON.stringify({
        channels: [
          { ch: '1', state: '1' },
          { ch: '2', state: 'x' },
        ],
      }),
      JSON.stringify({ channels: 'none' }),
    ]
    for (const status of bad) {
      const r = await boxPost(`${rig.ingest}/upload_record`, { cmd: 'channelstatus', satellite: MAC, status })
      t.equal(r.status, 400)
      t.not(r.body.status, 0)
      t.equal(typeof r.body.message, 'string')
      t.match(r.body.time, /^\d+$/)
    }
    t.equal(JSON.stringify(rig.daemon.table.list({ source: SOURCE })), before, 'port 1 not set idle by the valid first entry')
    const r = await boxPost(`${rig.ingest}/upload_record`, { cmd: 'channelstatus', satellite: MAC })
    t.equal(r.body.status, -11, 'no status field')
  })

  await t.test('any other cmd: {time, status: 0}', async (t) => {
    const r = await boxPost(`${rig.ingest}/upload_record`, { cmd: 'hello', satellite: MAC })
    t.same(Object.keys(r.body).sort(), ['status', 'time'])
    t.equal(r.body.status, 0)
  })

  await t.test('bodies fastify cannot read still get the vendor shape', async (t) => {
    let r = await fetch(`${rig.ingest}/upload_record`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"cmd":' })
    let b = (await r.json()) as any
    t.equal(r.status, 400)
    t.equal(b.status, -3)
    t.match(b.time, /^\d+$/)
    r = await fetch(`${rig.ingest}/upload_record`, { method: 'POST', body: new URLSearchParams({ cmd: 'channelstatus', satellite: MAC, status: 'x'.repeat(2 << 20) }) })
    b = (await r.json()) as any
    t.equal(r.status, 413)
    t.equal(b.status, -12)
    r = await fetch(`${rig.ingest}/upload_record`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: '<x/>' })
    b = (await r.json()) as any
    t.equal(b.status, -3)
  })

  await t.test('jsondata.html on the box listener serves only method=upload_record', async (t) => {
    const r = await boxPost(`${rig.ingest}/voip/api/jsondata.html?method=getChannelList`, { satellite: MAC })
    t.equal(r.body.code, -5)
  })

  await t.test('a silent box goes offline with its channels, with events; its next post brings it back', async (t) => {
    const down = await sse.next((x) => x.event === 'source' && (x.data as any).id === SOURCE && (x.data as any).status === 'down', 3000)
    t.match((down.data as any).lastError, /no post from the box/)
    await until(() => rig.daemon.table.list({ source: SOURCE }).every((e) => e.state === 'offline'), 2000, 'channels offline')
    await sse.next((x) => x.event === 'channel' && (x.data as any).id === `${SOURCE}:1` && (x.data as any).state === 'offline')
    await sse.next((x) => x.event === 'device' && (x.data as any).change === 'offline')
    const d = (await getJson(`${rig.api}/v1/devices`)).body.devices[0]
    t.equal(d.online, false)
    t.equal(d.status, 'down')
    const r = await boxPost(`${rig.ingest}/upload_record`, { cmd: 'channelstatus', satellite: MAC, status: statusJson([1, 1]) })
    t.equal(r.body.status, 0)
    t.equal(rig.daemon.sources.get(SOURCE)!.status, 'connected')
    t.equal(rig.daemon.table.get(`${SOURCE}:1`)!.state, 'idle')
  })
})

t.test('autoRegister adds an unknown box as a source', async (t) => {
  const rig = await boxRig({ allow: [], autoRegister: true, maxBoxes: 2 })
  t.teardown(() => rig.stop())
  const r = await boxPost(`${rig.ingest}/upload_record`, { cmd: 'channelstatus', satellite: 'AA:BB:CC:DD:EE:01', status: statusJson([1, 2]) })
  t.equal(r.body.status, 0)
  const src = await getJson(`${rig.api}/v1/sources/800hu-aabbccddee01`)
  t.equal(src.body.status, 'connected')
  t.equal(rig.daemon.table.get('800hu-aabbccddee01:2')!.state, 'ringing')
  const devs = (await getJson(`${rig.api}/v1/devices`)).body.devices
  t.equal(devs.length, 1)
  t.equal(devs[0].registered, 'auto')
  await boxPost(`${rig.ingest}/upload_record`, { cmd: 'channelstatus', satellite: 'aabbccddee02', status: statusJson([1]) })
  const third = await boxPost(`${rig.ingest}/upload_record`, { cmd: 'channelstatus', satellite: 'aabbccddee03', status: statusJson([1]) })
  t.equal(third.body.status, 3001, 'maxBoxes bounds autoRegister')
})
