import t from 'tap'
import { createHash } from 'node:crypto'
import { apiJson, boxPost, boxRig, boxUpload, MAC, statusJson, wav } from './helpers/boxes.js'

const PASSWORD = '02367073578'
const MD5 = createHash('md5').update(PASSWORD).digest('hex').toUpperCase()

t.test('local 800hu JSON API', async (t) => {
  const rig = await boxRig({ localApi: { user: '100008800', password: PASSWORD }, names: { [MAC]: 'Front desk' } }, { api: { token: 'a-very-secret-token-123' } })
  t.teardown(() => rig.stop())
  const url = (q: Record<string, string>) => `${rig.api}/voip/api/jsondata.html?${new URLSearchParams({ sa_user: '100008800', sa_password: MD5, ...q })}`

  await t.test('auth: sa_user + MD5(password), vendor code -2 otherwise; no bearer token needed', async (t) => {
    let r = await apiJson(url({ method: 'systemChannels' }))
    t.equal(r.status, 200)
    t.equal(r.body.code, 0)
    r = await apiJson(url({ method: 'systemChannels', sa_password: MD5.toLowerCase() }))
    t.equal(r.body.code, 0, 'the MD5 in lower case too')
    for (const bad of [{ sa_password: PASSWORD }, { sa_password: '0'.repeat(32) }, { sa_user: 'someone' }, { sa_password: '' }]) {
      r = await apiJson(url({ method: 'systemChannels', ...bad }))
      t.equal(r.body.code, -2, JSON.stringify(bad))
      t.match(r.body.message, /sa_password/)
    }
    r = await apiJson(`${rig.api}/voip/api/jsondata.html?method=systemChannels`)
    t.equal(r.body.code, -2, 'no credentials')
    r = await apiJson(`${rig.api}/v1/devices`)
    t.equal(r.status, 401, 'the rest of the API still wants the bearer token')
  })

  await t.test('unknown method: -3 naming what is served', async (t) => {
    const r = await apiJson(url({ method: 'getCustomersPage' }))
    t.equal(r.body.code, -3)
    t.match(r.body.message, /sendTelCall/)
  })

  await boxPost(`${rig.ingest}/upload_record`, {
    cmd: 'channelstatus',
    satellite: MAC,
    status: JSON.stringify({
      ip: '192.168.1.50',
      channels: [
        { ch: '1', state: '2', phone: '13900139000', timelen: '5', peer: '2', serial: '1' },
        { ch: '2', state: '4', phone: '10086', timelen: '30', peer: '1', serial: '1' },
        { ch: '3', state: '1', phone: '', timelen: '0', peer: '', serial: '1' },
      ],
    }),
  })

  await t.test('systemChannels: every box port, busy ones counted', async (t) => {
    const r = await apiJson(url({ method: 'systemChannels' }))
    t.equal(r.body.totalNum, 3)
    t.equal(r.body.channelNum, 3)
    t.equal(r.body.useAgiCallNum, 2)
    t.equal(r.body.totalGroupCallNum, 0)
    t.match(r.body.channelviewinfo[0], { channelName: '800hu-000000000001:1', mac: MAC, name: 'Front desk', ch: '1', state: 2, phone: '13900139000', peer: 2 })
    t.match(r.body.channelviewinfo[1], { ch: '2', state: 4, peer: 1, timelen: 30 })
    // the seed: timelen while ringing is the monitor's calltime
    t.match(r.body.channelviewinfo[0], { calltime: 5 })
    t.equal(r.body.channelviewinfo[1].calltime, null, 'never seen ringing: no calltime')
  })

  await t.test('getChannelList: ringing lines (queueSize 1), every line (0)', async (t) => {
    let r = await apiJson(url({ method: 'getChannelList', queueSize: '1' }))
    t.equal(r.body.code, 0)
    t.equal(r.body.rows.length, 1)
    t.match(r.body.rows[0], { channelName: '800hu-000000000001:1', callinTel: '13900139000', queueId: 1 })
    t.match(r.body.rows[0].createTime, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/)
    r = await apiJson(url({ method: 'getChannelList', queueSize: '0' }))
    // issue 12 item 7: the seed's 0 is 所有列表, every line (was: only the busy ones)
    t.equal(r.body.rows.length, 3)
    r = await apiJson(url({ method: 'getChannelList', queueSize: '9' }))
    t.equal(r.body.code, -3)
  })

  await t.test('sendTelCall queues a dial the box gets at its next poll', async (t) => {
    let r = await apiJson(url({ method: 'sendTelCall', mac: '00-00-00-00-00-01', channel: '3', phone: '13800138000' }))
    t.equal(r.body.code, 0)
    t.match(r.body.commandId, /^[0-9a-f-]{36}$/)
    const p = await boxPost(`${rig.ingest}/upload_record`, { cmd: 'getMessageList', satellite: MAC })
    t.same(p.body, { data: [{ status: '0', mdcWan: '3', mdcCode: '1', phone: '13800138000', memo: {} }], status: 0 })
    r = await apiJson(url({ method: 'sendTelCall', mac: '00:00:00:00:00:02', channel: '1', phone: '1' }))
    t.equal(r.body.code, -11, 'unknown box')
    r = await apiJson(url({ method: 'sendTelCall', channel: '1', phone: '1' }))
    t.equal(r.body.code, -11, 'no mac')
    r = await apiJson(url({ method: 'sendTelCall', mac: MAC, channel: '1' }))
    t.equal(r.body.code, -11, 'no phone')
    r = await apiJson(url({ method: 'sendTelCall', mac: MAC, channel: '1', phone: '1; drop' }))
    t.equal(r.body.code, -3, 'a phone that is not a number')
    // a POSTed form works the same
    const f = await fetch(`${rig.api}/voip/api/jsondata.html`, {
      method: 'POST',
      body: new URLSearchParams({ sa_user: '100008800', sa_password: MD5, method: 'sendTelCall', mac: MAC, channel: '1', phone: '10010' }),
    })
    t.equal(((await f.json()) as any).code, 0)
  })

  await t.test('findDialrecord: from the recording index, with filters and start/limit', async (t) => {
    const now = Math.floor(Date.now() / 1000)
    const up = (callid: string, extra: Record<string, string>) =>
      boxUpload(
        `${rig.ingest}/upload_record`,
        {
          cmd: 'upload',
          satellite: MAC,
          channel: '1',
          start_time_secs: String(now - 100),
          start_time_hangup: String(now - 40),
          direction: 'in',
          callid_dialed: '13900139000',
          duration_secs: '60',
          id: '1',
          recorded: '1',
          callid,
          ...extra,
        },
        { data: wav(100, Number(callid)) },
      )
    t.equal((await up('9001', {})).body.status, 0)
    t.equal((await up('9002', { direction: 'out', callid_dialed: '010-5555', duration_secs: '5', channel: '2' })).body.status, 0)
    t.equal((await up('9003', { start_time_secs: String(now - 86400 * 3), start_time_hangup: String(now - 86400 * 3 + 10) })).body.status, 0)
    let r = await apiJson(url({ method: 'findDialrecord' }))
    t.equal(r.body.code, 0)
    t.equal(r.body.recordTotal, 3)
    t.equal(r.body.total, 3)
    const row = r.body.rows.find((x: any) => x.cdrId === '9001')
    t.match(row, { cdrPhoneNum: '13900139000', cdrPeer: 2, cdrTalktime: 60, cdrExtension: '800hu-000000000001:1', exteName: 'Front desk', cdrExtensionPort: 1 })
    t.match(row.cdrStartTime, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/)
    t.match(row.cdrRecordFile, /9001\.wav$/)
    r = await apiJson(url({ method: 'findDialrecord', cdrPeer: '1' }))
    t.same(
      r.body.rows.map((x: any) => x.cdrId),
      ['9002'],
    )
    r = await apiJson(url({ method: 'findDialrecord', phoneNum: '5555' }))
    t.same(
      r.body.rows.map((x: any) => x.cdrId),
      ['9002'],
    )
    r = await apiJson(url({ method: 'findDialrecord', talktimeSql: '0', talktime: '30' }))
    t.same(r.body.rows.map((x: any) => x.cdrId).sort(), ['9001', '9003'])
    r = await apiJson(url({ method: 'findDialrecord', talktimeSql: '1', talktime: '30' }))
    t.same(
      r.body.rows.map((x: any) => x.cdrId),
      ['9002'],
    )
    const day = new Date(Date.now() - 86400_000)
    const pad = (n: number) => String(n).padStart(2, '0')
    const since = `${day.getFullYear()}-${pad(day.getMonth() + 1)}-${pad(day.getDate())} 00:00:00`
    r = await apiJson(url({ method: 'findDialrecord', startTime: since }))
    t.same(r.body.rows.map((x: any) => x.cdrId).sort(), ['9001', '9002'])
    r = await apiJson(url({ method: 'findDialrecord', extension: '800hu-000000000001:2' }))
    t.same(
      r.body.rows.map((x: any) => x.cdrId),
      ['9002'],
    )
    r = await apiJson(url({ method: 'findDialrecord', extension: `${MAC},00:00:00:00:00:05` }))
    t.equal(r.body.total, 3)
    r = await apiJson(url({ method: 'findDialrecord', start: '1', limit: '1' }))
    t.equal(r.body.total, 3)
    t.equal(r.body.rows.length, 1)
    r = await apiJson(url({ method: 'findDialrecord', scdrId: '9003' }))
    t.same(
      r.body.rows.map((x: any) => x.cdrId),
      ['9003'],
    )
    for (const bad of [{ startTime: 'yesterday' }, { cdrPeer: '7' }, { limit: '0' }, { extension: 'desk' }]) {
      r = await apiJson(url({ method: 'findDialrecord', ...bad }))
      t.equal(r.body.code, -3, JSON.stringify(bad))
    }
  })
})

t.test('without boxes.localApi the API answers -5', async (t) => {
  const rig = await boxRig()
  t.teardown(() => rig.stop())
  const r = await apiJson(`${rig.api}/voip/api/jsondata.html?method=systemChannels&sa_user=a&sa_password=b`)
  t.equal(r.body.code, -5)
  t.match(r.body.message, /boxes\.localApi/)
  void statusJson
})
