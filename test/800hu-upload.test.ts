import t from 'tap'
import { createHash } from 'node:crypto'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { getJson, SseReader } from './helpers/sse.js'
import { boxPost, boxRig, boxUpload, MAC, wav, type BoxRig } from './helpers/boxes.js'
import { listFiles } from './helpers/recordings.js'

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex')
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

const audioFiles = async (rig: BoxRig) => (await listFiles(join(rig.dir, 'recordings'))).filter((f) => !f.startsWith('.tmp') && !f.endsWith('.json'))
const tempFiles = async (rig: BoxRig) => (await listFiles(join(rig.dir, 'recordings'))).filter((f) => f.startsWith('.tmp'))

function fields(callid: string, extra: Record<string, string> = {}): Record<string, string> {
  const now = Math.floor(Date.now() / 1000)
  return {
    cmd: 'upload',
    satellite: MAC,
    channel: '1',
    start_time_secs: String(now - 60),
    start_time_hangup: String(now),
    direction: 'in',
    callid_dialed: '13800138000',
    duration_secs: '55',
    id: '17',
    recorded: '1',
    callid,
    ...extra,
  }
}

t.test('uploads through the box endpoint', async (t) => {
  // 50 concurrent uploads from one address below: above the default boxes.maxUploadsPerIp (8)
  const rig = await boxRig({ maxUploadsPerIp: 50 }, { recordings: { maxBytes: 64 * 1024 } })
  t.teardown(() => rig.stop())
  const sse = await SseReader.open(`${rig.api}/v1/events`)
  t.teardown(() => sse.close())

  await t.test('a multipart upload is stored under its callid, hash-checked, answered with callid', async (t) => {
    const data = wav(500, 7)
    const r = await boxUpload(`${rig.ingest}/voip/api/upload_record`, fields('7687658987667780097'), { data, name: 'rec-20240501.wav' })
    t.equal(r.status, 200)
    t.same(Object.keys(r.body).sort(), ['callid', 'status', 'time'])
    t.equal(r.body.status, 0)
    t.equal(r.body.callid, '7687658987667780097')
    const files = await audioFiles(rig)
    t.equal(files.length, 1)
    t.match(files[0], /^\d{4}\/\d{2}\/\d{2}\/7687658987667780097\.wav$/)
    const disk = await readFile(join(rig.dir, 'recordings', files[0]!))
    t.equal(sha256(disk), sha256(data), 'the bytes on disk are the bytes sent')
    const rec = (await getJson(`${rig.api}/v1/recordings/7687658987667780097`)).body
    t.equal(rec.box, '000000000001')
    t.equal(rec.sha256, sha256(data))
    t.equal(rec.fields.callid_dialed, '13800138000')
    t.equal(rec.fields.satellite, MAC)
    t.equal(rig.daemon.boxes.boxes.get('000000000001')!.uploads, 1)
    t.same(await tempFiles(rig), [], 'no temp file left')
  })

  await t.test('fields after the file, a matching fileMd5, the same upload again: acknowledged once', async (t) => {
    const data = wav(300, 8)
    const f = fields('1001', { fileMd5: md5(data).toUpperCase() })
    let r = await boxUpload(`${rig.ingest}/upload_record`, f, { data }, { fileFirst: true })
    t.equal(r.body.status, 0)
    t.equal(r.body.callid, '1001')
    r = await boxUpload(`${rig.ingest}/upload_record`, f, { data })
    t.equal(r.body.status, 0, 'a retried upload is acknowledged')
    t.equal((await audioFiles(rig)).filter((x) => x.endsWith('/1001.wav')).length, 1, 'without a second copy')
  })

  await t.test('a ../ file name is never a path', async (t) => {
    const data = wav(100, 9)
    const r = await boxUpload(`${rig.ingest}/upload_record`, fields('1002'), { data, name: '../../../../tmp/evil.wav' })
    t.equal(r.body.status, 0)
    const files = await audioFiles(rig)
    t.ok(files.some((f) => /^\d{4}\/\d{2}\/\d{2}\/1002\.wav$/.test(f)))
    t.notOk(files.some((f) => f.includes('evil')))
    t.notOk((await listFiles(rig.dir)).some((f) => f.includes('evil')))
    const bad = await boxUpload(`${rig.ingest}/upload_record`, fields('../../1003'), { data })
    t.equal(bad.status, 400)
    t.equal(bad.body.status, -3, 'a callid that is not a plain id is refused')
    t.notOk((await listFiles(rig.dir)).some((f) => f.includes('1003')))
  })

  await t.test('an unknown extension falls back on the bytes, never on the name', async (t) => {
    const data = wav(100, 10)
    const r = await boxUpload(`${rig.ingest}/upload_record`, fields('1004'), { data, name: 'x.exe', type: 'application/octet-stream' })
    t.equal(r.body.status, 0)
    t.ok((await audioFiles(rig)).some((f) => f.endsWith('/1004.wav')))
  })

  await t.test('MD5 mismatch: refused, nothing kept', async (t) => {
    const before = await audioFiles(rig)
    const r = await boxUpload(`${rig.ingest}/upload_record`, fields('2001', { fileMd5: '0'.repeat(32) }), { data: wav(100, 11) })
    t.equal(r.status, 400)
    t.equal(r.body.status, -13)
    t.match(r.body.message, /fileMd5/)
    t.same(await audioFiles(rig), before)
    t.same(await tempFiles(rig), [])
    t.equal((await getJson(`${rig.api}/v1/recordings/2001`)).status, 404)
  })

  await t.test('oversized file: 413 in the vendor shape, nothing kept', async (t) => {
    const before = await audioFiles(rig)
    const r = await boxUpload(`${rig.ingest}/upload_record`, fields('2002'), { data: Buffer.alloc(200 * 1024, 1) })
    t.equal(r.status, 413)
    t.equal(r.body.status, -12)
    t.equal(r.body.error, 'PAYLOAD_TOO_LARGE')
    t.same(await audioFiles(rig), before)
    t.same(await tempFiles(rig), [])
  })

  await t.test('unknown box, missing satellite, missing callid, no file: refused, nothing kept', async (t) => {
    const before = await audioFiles(rig)
    const data = wav(100, 12)
    let r = await boxUpload(`${rig.ingest}/upload_record`, fields('3001', { satellite: '00:00:00:00:00:77' }), { data })
    t.equal(r.body.status, 3001)
    const noSat = fields('3002')
    delete noSat.satellite
    r = await boxUpload(`${rig.ingest}/upload_record`, noSat, { data }, { fileFirst: true })
    t.equal(r.body.status, 3002)
    const noCallid = fields('x')
    delete noCallid.callid
    r = await boxUpload(`${rig.ingest}/upload_record`, noCallid, { data })
    t.equal(r.body.status, -11)
    r = await boxPost(`${rig.ingest}/upload_record`, fields('3003'), 'multipart')
    t.equal(r.body.status, -11, 'recorded=1 without a file')
    t.same(await audioFiles(rig), before)
    t.same(await tempFiles(rig), [])
  })

  await t.test('recorded=0 without a file: acknowledged as a call record', async (t) => {
    const r = await boxPost(`${rig.ingest}/upload_record`, fields('3004', { recorded: '0', direction: 'unkown', duration_secs: '0' }))
    t.equal(r.body.status, 0)
    t.equal(r.body.callid, '3004')
    const e = await sse.next((x) => x.event === 'cdr' && (x.data as any).callid === '3004')
    t.equal((e.data as any).fields.direction, 'unkown')
  })

  await t.test('an upload cut off mid-stream leaves no file, no temp, no index entry', async (t) => {
    const before = await audioFiles(rig)
    const boundary = 'tbcutboundary'
    const head = Object.entries(fields('4001'))
      .map(([k, v]) => `--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
      .join('')
    const fileHead = `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.wav"\r\ncontent-type: audio/wav\r\n\r\n`
    const req = request(`${rig.ingest}/upload_record`, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': '100000' } })
    req.on('error', () => {})
    req.write(head + fileHead)
    req.write(wav(500, 13).subarray(0, 6000))
    await new Promise((r) => setTimeout(r, 200))
    req.destroy()
    await new Promise((r) => setTimeout(r, 300))
    t.same(await audioFiles(rig), before)
    t.same(await tempFiles(rig), [])
    t.equal((await getJson(`${rig.api}/v1/recordings/4001`)).status, 404)
  })

  await t.test('50 concurrent uploads all land intact', async (t) => {
    const datas = Array.from({ length: 50 }, (_, i) => wav(200 + i * 10, 100 + i))
    const rs = await Promise.all(datas.map((data, i) => boxUpload(`${rig.ingest}/upload_record`, fields(`50${String(i).padStart(2, '0')}`), { data })))
    t.same(
      rs.map((r) => r.body.status),
      rs.map(() => 0),
    )
    const files = await audioFiles(rig)
    for (const [i, data] of datas.entries()) {
      const f = files.find((x) => x.endsWith(`/50${String(i).padStart(2, '0')}.wav`))
      t.ok(f, `file ${i}`)
      if (f) t.equal(sha256(await readFile(join(rig.dir, 'recordings', f))), sha256(data))
    }
    t.same(await tempFiles(rig), [])
  })
})

t.test('an unwritable recordings directory is an explicit error answer', async (t) => {
  const rig = await boxRig()
  t.teardown(() => rig.stop())
  // a file where the directory should be: even root cannot write under it
  await rm(join(rig.dir, 'recordings'), { recursive: true, force: true })
  await writeFile(join(rig.dir, 'recordings'), 'not a directory')
  const r = await boxUpload(`${rig.ingest}/upload_record`, fields('6001'), { data: wav(100, 1) })
  t.equal(r.status, 507)
  t.equal(r.body.status, -13)
  t.equal(r.body.error, 'INSUFFICIENT_STORAGE')
  t.match(r.body.message, /cannot store/)
  const ok = await boxPost(`${rig.ingest}/upload_record`, { cmd: 'hello', satellite: MAC })
  t.ok(ok.status === 200, 'the daemon still answers')
})
