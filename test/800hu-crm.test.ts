import t from 'tap'
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { MAC, SOURCE, apiJson, boxPost, boxRig, boxUpload, wav } from './helpers/boxes.js'
import { until } from './helpers/sse.js'
import { vendorTime } from '../protocols/800hu/time.js'

/**
 * Issue 12: a CRM written for the 800hu cloud (seed 003 §1, §2.1–2.5, §2.10.4) pointed at telbridge.
 * The CRM is a small HTTP server on 127.0.0.1 receiving the pushes; the box side is driven by direct
 * posts to the ingest listener, as a box sends them.
 */

const PASSWORD = '02367073578'
const MD5 = createHash('md5').update(PASSWORD).digest('hex').toUpperCase()

interface Push {
  type: string
  peer: string
  phone: string
  memo: Record<string, any>
}

/** The CRM: takes the seed's GET push (type, peer, phone, memo as JSON text), answers {"code":0}. */
async function crm(): Promise<{ url: string; pushes: Push[]; server: Server }> {
  const pushes: Push[] = []
  const server = createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams
    pushes.push({ type: q.get('type') ?? '', peer: q.get('peer') ?? '', phone: q.get('phone') ?? '', memo: JSON.parse(q.get('memo') ?? '{}') as Record<string, any> })
    res.setHeader('content-type', 'application/json')
    res.end('{"code":0,"message":"OK"}')
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  return { url: `http://127.0.0.1:${port}/api/voip.json`, pushes, server }
}

t.test('a CRM written for 800hu works against telbridge unchanged', async (t) => {
  const c = await crm()
  t.teardown(() => new Promise<void>((r) => c.server.close(() => r())))
  const rig = await boxRig(
    { localApi: { user: '100008800', password: PASSWORD }, names: { [MAC]: 'Front desk' } },
    { timeZone: 'Asia/Shanghai', webhooks: [{ url: c.url, events: ['call', 'answer', 'hangup', 'recording'], retryBaseSeconds: 0.02, retryMaxSeconds: 0.1 }] },
  )
  t.teardown(() => rig.stop())
  const api = (q: Record<string, string>) => apiJson(`${rig.api}/voip/api/jsondata.html?${new URLSearchParams({ sa_user: '100008800', sa_password: MD5, ...q })}`)
  const status = (channels: Record<string, string>[], satellite = MAC) =>
    boxPost(`${rig.ingest}/upload_record`, { cmd: 'channelstatus', satellite, status: JSON.stringify({ ip: '192.168.1.50', channels }) })
  const line = (ch: string, state: string, phone = '', peer = '') => ({ ch, state, phone, timelen: '0', peer, serial: '1' })

  await t.test('a status post with the seed placeholder entry updates the other ports; the seed satellite 00:00:00:00:01 is the box', async (t) => {
    // the seed's own template entry ("ch": "", "state": "") beside real ports, from the seed's five-octet satellite
    const r = await status([{ ch: '', state: '', phone: '', timelen: '', peer: '', serial: '1' }, line('1', '1'), line('2', '1')], '00:00:00:00:01')
    t.equal(r.status, 200)
    t.equal(r.body.status, 0)
    const ports = (await apiJson(`${rig.api}/v1/channels?source=${SOURCE}`)).body
    t.same(ports.channels.map((e: any) => [e.channel, e.state]).sort(), [
      ['1', 'idle'],
      ['2', 'idle'],
    ])
    const src = await apiJson(`${rig.api}/v1/sources/${SOURCE}`)
    t.equal(src.body.detail.skippedEntries, 1, 'the placeholder is counted')
  })

  await t.test('getExtension and getExtensions answer (the usual login check)', async (t) => {
    const one = await api({ method: 'getExtension' })
    t.match(one.body, { code: 0, extension: '100008800', exteLoginType: 1 })
    const all = await api({ method: 'getExtensions' })
    t.equal(all.body.code, 0)
    t.same(
      all.body.extension.map((e: any) => e.exteExtension),
      [`${SOURCE}:1`, `${SOURCE}:2`],
      'by default every box port, as its channel id',
    )
    t.match(all.body.extension[0], { exteName: 'Front desk 1', exteMobile: '' })
  })

  const start = Date.parse('2024-05-01T10:00:00+08:00') / 1000
  // the dialled call happens now: a command's memo goes only to a call begun after it
  const now = Math.floor(Date.now() / 1000)
  const nowText = vendorTime(now * 1000, 'Asia/Shanghai')

  await t.test('a dial without channel takes the lowest idle port and carries the memo object', async (t) => {
    const r = await apiJson(`${rig.api}/v1/calls`, { method: 'POST', body: { source: SOURCE, phone: '13800138000', memo: { functionname: 'crm', paramvalue: 'lead=42&x=1' } } })
    t.equal(r.status, 202, JSON.stringify(r.body))
    t.equal(r.body.vendor.command.channel, '1')
    const poll = await boxPost(`${rig.ingest}/upload_record`, { cmd: 'getMessageList', satellite: MAC })
    t.same(poll.body.data, [{ status: '0', mdcWan: '1', mdcCode: '1', phone: '13800138000', memo: { functionname: 'crm', paramvalue: 'lead=42&x=1' } }])
    // the box dials, the other side answers, hangs up
    await status([line('1', '3', '13800138000', '1'), line('2', '1')])
    await status([line('1', '4', '13800138000', '1'), line('2', '1')])
    await status([line('1', '1'), line('2', '1')])
    await until(() => c.pushes.length >= 2, 5000, 'call and answer pushes')
    t.same(
      c.pushes.map((p) => p.type),
      ['1', '2'],
      "no hang-up from the line state: the box's upload brings it",
    )
    for (const p of c.pushes) {
      t.equal(p.memo.paramvalue, 'lead=42&x=1', `type ${p.type} carries paramvalue`)
      t.equal(p.memo.cdrExtension, `${SOURCE}:1`)
    }
    // the box uploads the call record with its recording
    const up = await boxUpload(
      `${rig.ingest}/upload_record`,
      {
        cmd: 'upload',
        satellite: MAC,
        callid: '7687658987667780097',
        channel: '1',
        direction: 'out',
        callid_dialed: '13800138000',
        start_time_secs: String(now),
        start_time_hangup: String(now + 65),
        duration_secs: '60',
        recorded: '1',
        id: '11',
      },
      { data: wav(200, 3) },
    )
    t.equal(up.body.status, 0)
    await until(() => c.pushes.length >= 4, 5000, 'hang-up and recording pushes')
  })

  await t.test('a missed call without audio (recorded=0) is a call record: pushed once, queryable', async (t) => {
    const fields = {
      cmd: 'upload',
      satellite: MAC,
      callid: '7687658987667780098',
      channel: '2',
      direction: 'unkown',
      callid_dialed: '02584561234',
      start_time_secs: String(start + 600),
      start_time_hangup: String(start + 620),
      duration_secs: '0',
      recorded: '0',
      id: '12',
    }
    t.equal((await boxPost(`${rig.ingest}/upload_record`, fields)).body.status, 0)
    await until(() => c.pushes.length >= 5, 5000, 'the missed call push')
    t.equal((await boxPost(`${rig.ingest}/upload_record`, fields)).body.callid, '7687658987667780098', 'sent again: acknowledged')
    await new Promise((r) => setTimeout(r, 300))
    t.equal(c.pushes.length, 5, 'a duplicate upload is pushed once')
    const missed = c.pushes[4]!
    t.match(missed, { type: '3', peer: '2', phone: '02584561234' })
    t.match(missed.memo, { cdrId: /^[0-9a-f-]{36}$/, callid: '7687658987667780098', cdrRecordFile: '', cdrPeer: 2, cdrExtension: `${SOURCE}:2`, cdrTalktime: 0 })
    t.equal(missed.memo.cdrStartTime, '2024-05-01 10:10:00', 'in timeZone (Asia/Shanghai)')
    // not a recording
    t.equal((await apiJson(`${rig.api}/v1/recordings?callid=7687658987667780098`)).body.total, 0)
  })

  await t.test('the CRM joins the pushes by cdrId with paramvalue intact and fetches the audio through /voip/record/', async (t) => {
    const byId = new Map<string, Push[]>()
    for (const p of c.pushes) if (p.memo.cdrId) byId.set(p.memo.cdrId, [...(byId.get(p.memo.cdrId) ?? []), p])
    // cdrId is the call's id in the call log: every push of the call has it, the live ones too
    const dialled = byId.get(c.pushes[0]!.memo.cdrId) ?? []
    t.same(
      dialled.map((p) => p.type),
      ['1', '2', '3', '4'],
      'call, answer, hang-up, recording: one cdrId',
    )
    for (const p of dialled) {
      t.equal(p.memo.paramvalue, 'lead=42&x=1')
      t.equal(p.memo.cdrExtension, `${SOURCE}:1`)
    }
    for (const p of dialled.slice(2)) {
      t.equal(p.memo.callid, '7687658987667780097', "the box's callid (findDialrecord's cdrId)")
      t.equal(p.memo.cdrStartTime, nowText, "the box's start, in timeZone")
    }
    const file = dialled[3]!.memo.cdrRecordFile as string
    t.match(file, /^\d{4}\/\d{2}\/\d{2}\/7687658987667780097\.wav$/)
    const creds = new URLSearchParams({ sa_user: '100008800', sa_password: MD5 })
    let r = await fetch(`${rig.api}/voip/record/${file}?${creds}`)
    t.equal(r.status, 200)
    t.same(Buffer.from(await r.arrayBuffer()), wav(200, 3), 'the stored audio')
    r = await fetch(`${rig.api}/voip/record/${file}?${creds}`, { headers: { range: 'bytes=0-9' } })
    t.equal(r.status, 206)
    t.equal((await r.arrayBuffer()).byteLength, 10)
    r = await fetch(`${rig.api}/voip/api/client/download/record.json?id=7687658987667780097&ismp3=1&${creds}`)
    t.equal(r.status, 200)
    t.equal((await r.arrayBuffer()).byteLength, wav(200, 3).length)
    const noCreds = await fetch(`${rig.api}/voip/record/${file}`)
    t.equal(((await noCreds.json()) as any).code, -2, 'the local API credentials are needed')
    t.equal((await fetch(`${rig.api}/voip/record/2024/05/01/nothing.wav?${creds}`)).status, 404)
  })

  await t.test('findDialrecord: every call, cdrId as the pushed callid and cdrExtension as pushed, cdrPeer 2 with missed calls, 3-5 empty, times in timeZone', async (t) => {
    let r = await api({ method: 'findDialrecord' })
    t.equal(r.body.code, 0)
    t.equal(r.body.recordTotal, 2)
    const rows = new Map<string, any>(r.body.rows.map((x: any) => [x.cdrId, x]))
    t.match(rows.get('7687658987667780097'), { cdrExtension: `${SOURCE}:1`, paramvalue: 'lead=42&x=1', cdrStartTime: nowText, cdrPeer: 1 })
    t.match(rows.get('7687658987667780097').cdrRecordFile, /^\d{4}\/\d{2}\/\d{2}\/7687658987667780097\.wav$/)
    t.match(rows.get('7687658987667780098'), { cdrExtension: `${SOURCE}:2`, cdrRecordFile: '', cdrPeer: 2 })
    r = await api({ method: 'findDialrecord', cdrPeer: '2' })
    t.same(
      r.body.rows.map((x: any) => x.cdrId),
      ['7687658987667780098'],
      'the missed inbound call',
    )
    for (const peer of ['3', '4', '5']) {
      r = await api({ method: 'findDialrecord', cdrPeer: peer })
      t.match(r.body, { code: 0, recordTotal: 0, rows: [] }, `cdrPeer ${peer}`)
    }
    r = await api({ method: 'findDialrecord', startTime: '2024-05-01 10:05:00', endTime: '2024-05-01 10:10:00' })
    t.same(
      r.body.rows.map((x: any) => x.cdrId),
      ['7687658987667780098'],
      'startTime/endTime read in timeZone (Asia/Shanghai)',
    )
    r = await api({ method: 'findDialrecord', extension: `${SOURCE}:1` })
    t.same(
      r.body.rows.map((x: any) => x.cdrId),
      ['7687658987667780097'],
      'the pushed cdrExtension filters',
    )
  })

  await t.test('upload_record_file.html (fileName base64, fileMd5, isBase, fileGsm) is stored like an upload on both listeners', async (t) => {
    const send = async (base: string, callid: string, extra: Record<string, string>) => {
      const audio = wav(100, 9)
      const fd = new FormData()
      const f: Record<string, string> = { fileName: Buffer.from(`${callid}.wav`).toString('base64'), fileMd5: createHash('md5').update(audio).digest('hex'), isBase: 'true', satellite: MAC, ...extra }
      for (const [k, v] of Object.entries(f)) fd.append(k, v)
      fd.append('fileGsm', new Blob([audio], { type: 'audio/wav' }), 'x.wav')
      const r = await fetch(`${base}/voip/api/upload_record_file.html`, { method: 'POST', body: fd })
      return { status: r.status, body: (await r.json()) as any }
    }
    let r = await send(rig.api, '900001', { sa_user: '100008800', sa_password: MD5 })
    t.match(r, { status: 200, body: { code: 0, callid: '900001' } })
    r = await send(rig.api, '900002', { sa_user: '100008800', sa_password: 'wrong' })
    t.equal(r.body.code, -2, 'the API listener wants the credentials')
    r = await send(rig.ingest, '900003', {})
    t.match(r, { status: 200, body: { code: 0 } })
    const rec = await apiJson(`${rig.api}/v1/recordings/900001`)
    t.equal(rec.body.size, wav(100, 9).length)
    t.equal((await apiJson(`${rig.api}/v1/recordings/900002`)).status, 404)
    t.equal((await apiJson(`${rig.api}/v1/recordings/900003`)).status, 200)
  })

  await t.test('a string memo becomes paramvalue (sendTelCall and the devices API)', async (t) => {
    const r = await api({ method: 'sendTelCall', mac: MAC, channel: '2', phone: '10086', memo: 'ticket 9' })
    t.equal(r.body.code, 0)
    const poll = await boxPost(`${rig.ingest}/upload_record`, { cmd: 'getMessageList', satellite: MAC })
    t.same(poll.body.data[0].memo, { functionname: '', paramvalue: 'ticket 9' })
  })
})
