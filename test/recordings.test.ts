import t from 'tap'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, readdir, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { ChecksumMismatch, InvalidRecording, RecordingTooLarge, StorageError, UploadAborted, audioExt, parseTime, toApiError } from '../daemon/core/recordings/store.js'
import { BOX, chunked, dayDir, fields, listFiles, md5, put, sha256, storeRig, wav } from './helpers/recordings.js'

const until = async (fn: () => boolean | Promise<boolean>, ms = 3000) => {
  const end = Date.now() + ms
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

t.test('an upload is streamed to disk, hashed while streaming, then filed by call date with a sidecar', async (t) => {
  const r = await storeRig(t)
  const data = wav(3 * 1024 * 1024 + 17)
  const src = new PassThrough()
  const received = r.store.receive(src)
  // half the bytes in: they are on disk before the stream ends (not buffered whole)
  src.write(data.subarray(0, 1024 * 1024))
  await until(async () => {
    const parts = await readdir(r.store.tmpDir)
    return parts.length === 1 && (await stat(join(r.store.tmpDir, parts[0]!))).size >= 1024 * 1024
  })
  for (let i = 1024 * 1024; i < data.length; i += 65536) src.write(data.subarray(i, i + 65536))
  src.end()
  const tmp = await received
  t.equal(tmp.size, data.length)
  t.equal(tmp.md5, md5(data))
  t.equal(tmp.sha256, sha256(data))
  t.equal(tmp.sniffedExt, 'wav')

  const start = Math.floor(Date.UTC(2024, 4, 1, 3, 4, 5) / 1000)
  const f = fields('7687658987667780097', { start_time_secs: String(start), start_time_hangup: String(start + 60) })
  const res = await r.store.commit(tmp, { callid: '7687658987667780097', ext: 'wav', box: BOX, fields: f, fileMd5: md5(data).toUpperCase() })
  t.equal(res.outcome, 'stored')
  const rel = `${dayDir(start * 1000)}/7687658987667780097.wav`
  t.same(await listFiles(r.store.root), [`${rel}`, `${rel}.json`], 'audio and sidecar, no temp left')
  t.same(await readFile(join(r.store.root, rel)), data, 'the bytes as sent')
  const side = JSON.parse(await readFile(join(r.store.root, `${rel}.json`), 'utf8'))
  t.match(side, {
    format: 'telbridge.recording/1',
    id: '7687658987667780097',
    callid: '7687658987667780097',
    box: BOX,
    channel: 1,
    phone: '13800138000',
    direction: 'inbound',
    startTime: new Date(start * 1000).toISOString(),
    endTime: new Date((start + 60) * 1000).toISOString(),
    durationSeconds: 55,
    recorded: true,
    boxRecordId: '17',
    size: data.length,
    md5: md5(data),
    sha256: sha256(data),
    ext: 'wav',
    contentType: 'audio/wav',
    file: rel,
    receivedAt: String,
  })
  t.same(side.fields, f, 'every upload field as sent')
  t.same(r.store.get('7687658987667780097'), res.record)
  const ev = r.events.filter((e) => e.type === 'recording')
  t.equal(ev.length, 1, 'one recording event')
  t.match(ev[0]!.data, { outcome: 'stored', callid: '7687658987667780097', sha256: sha256(data) })
  const text = await r.metrics.render()
  t.match(text, /telbridge_recordings_stored_total\{outcome="stored"\} 1/)
  t.match(text, new RegExp(`telbridge_recordings_stored_bytes_total ${data.length}`))
  t.match(text, /telbridge_recordings_indexed 1/)
})

t.test('a call time that is missing or implausible files the recording under the received date', async (t) => {
  const r = await storeRig(t, { now: Date.UTC(2025, 0, 15, 12) })
  for (const [callid, st] of [
    ['c-none', ''],
    ['c-1970', '0'],
    ['c-future', String(Math.floor(Date.UTC(2030, 0, 1) / 1000))],
    ['c-text', 'yesterday'],
  ] as const) {
    const res = await put(r.store, callid, wav(200), { fields: { start_time_secs: st } })
    t.equal(res.record.file, `${dayDir(r.clock.now)}/${callid}.wav`, callid)
    t.equal(res.record.startTime, null)
    t.equal(res.record.time, new Date(r.clock.now).toISOString())
  }
  // 13 digits: taken as milliseconds
  const ms = Date.UTC(2024, 11, 31, 10)
  const res = await put(r.store, 'c-ms', wav(200), { fields: { start_time_secs: String(ms) } })
  t.equal(res.record.startTime, new Date(ms).toISOString())
})

t.test('an upload over the size limit is stopped and leaves nothing', async (t) => {
  const r = await storeRig(t, { recordings: { maxBytes: 4096 } })
  const src = chunked(wav(100_000), 1000)
  const err = await r.store.receive(src).catch((e) => e)
  t.type(err, RecordingTooLarge)
  t.equal(err.limit, 4096)
  t.ok(err.received > 4096 && err.received <= 5096, 'stopped at the first chunk over')
  t.ok(src.destroyed, 'the source is not read to its end')
  t.same(await listFiles(r.store.root), [])
  // a per-call limit below the configured one
  const e2 = await r.store.receive(chunked(wav(3000), 500), { maxBytes: 2000 }).catch((e) => e)
  t.type(e2, RecordingTooLarge)
  t.equal(toApiError(e2).status, 413)
  // exactly the limit is fine
  const ok = await r.store.receive(chunked(wav(4096), 1000))
  t.equal(ok.size, 4096)
  await r.store.discard(ok)
  t.same(await listFiles(r.store.root), [])
  t.match(await r.metrics.render(), /telbridge_recordings_rejected_total\{reason="too-large"\} 2/)
})

t.test('a stream that breaks off mid-upload leaves no file and no index entry', async (t) => {
  const r = await storeRig(t)
  // connection reset: the stream errors
  const a = new PassThrough()
  const pa = r.store.receive(a)
  a.write(randomBytes(100_000))
  await until(async () => (await readdir(r.store.tmpDir)).length === 1)
  a.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))
  const ea = await pa.catch((e) => e)
  t.type(ea, UploadAborted)
  t.equal(ea.received, 100_000)
  // the stream just closes without an end
  const b = new PassThrough()
  const pb = r.store.receive(b)
  b.write(randomBytes(5000))
  setTimeout(() => b.destroy(), 20)
  t.type(await pb.catch((e) => e), UploadAborted)
  // the caller gives up (request closed)
  const c = new PassThrough()
  const ac = new AbortController()
  const pc = r.store.receive(c, { signal: ac.signal })
  c.write(randomBytes(5000))
  setTimeout(() => ac.abort(), 20)
  t.type(await pc.catch((e) => e), UploadAborted)
  t.same(await listFiles(r.store.root), [], 'nothing on disk')
  t.equal(r.store.size, 0)
  t.equal(r.events.length, 0, 'no event')
  t.match(await r.metrics.render(), /telbridge_recordings_rejected_total\{reason="aborted"\} 3/)
  // after a restart too
  const r2 = await r.reopen()
  t.equal(r2.store.size, 0)
})

t.test('an MD5 that does not match deletes the upload', async (t) => {
  const r = await storeRig(t)
  const data = wav(10_000)
  const err = await put(r.store, 'm1', data, { fileMd5: md5(Buffer.from('other')) }).catch((e) => e)
  t.type(err, ChecksumMismatch)
  t.equal(err.actual, md5(data))
  t.match(err.message, /does not match/)
  const e2 = await put(r.store, 'm2', data, { fileMd5: 'not-an-md5' }).catch((e) => e)
  t.type(e2, ChecksumMismatch)
  t.same(await listFiles(r.store.root), [])
  t.equal(r.store.size, 0)
  t.match(await r.metrics.render(), /reason="md5-mismatch"\} 2/)
  // upper case, surrounding space: the same MD5
  const ok = await put(r.store, 'm3', data, { fileMd5: ` ${md5(data).toUpperCase()} ` })
  t.equal(ok.outcome, 'stored')
})

t.test('the same callid and content again is acknowledged without a second file; other content keeps both', async (t) => {
  const r = await storeRig(t)
  const a = wav(5000)
  const first = await put(r.store, '555', a)
  const again = await put(r.store, '555', a)
  t.equal(again.outcome, 'duplicate')
  t.same(again.record, first.record, 'the stored record')
  const dir = dayDir(Date.parse(first.record.time))
  t.same(await listFiles(r.store.root), [`${dir}/555.wav`, `${dir}/555.wav.json`])
  t.equal(r.events.filter((e) => e.type === 'recording').length, 1, 'no event for a duplicate')

  const b = wav(5000)
  const other = await put(r.store, '555', b)
  t.equal(other.outcome, 'kept-both')
  t.equal(other.record.id, '555~2')
  t.equal(other.record.callid, '555')
  t.same(await readFile(join(r.store.root, `${dir}/555~2.wav`)), b)
  t.same(await readFile(join(r.store.root, `${dir}/555.wav`)), a, 'the first one untouched')
  t.ok(
    r.logs.some((l) => l.level === 40 && /both recordings kept/.test(l.msg) && l.callid === '555'),
    'a warning is logged',
  )
  // both are duplicates of something now
  t.equal((await put(r.store, '555', b)).outcome, 'duplicate')
  t.equal((await put(r.store, '555', a)).outcome, 'duplicate')
  t.equal(r.store.get('555')!.sha256, sha256(a), 'the callid finds the first')
  t.equal(r.store.get('555~2')!.sha256, sha256(b))
  t.same(
    r.store
      .find({ callid: '555', order: 'asc' })
      .recordings.map((x) => x.id)
      .sort(),
    ['555', '555~2'],
  )
  t.match(await r.metrics.render(), /telbridge_recordings_duplicates_total 3/)
  t.match(await r.metrics.render(), /telbridge_recordings_stored_total\{outcome="kept-both"\} 1/)
})

t.test('concurrent uploads of one callid are decided one after the other', async (t) => {
  const r = await storeRig(t)
  const a = wav(20_000)
  const out = await Promise.all(Array.from({ length: 8 }, () => put(r.store, 'race', a)))
  t.same(out.map((o) => o.outcome).sort(), ['duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'stored'])
  t.equal(r.store.size, 1)
  // and many different ones at once stay intact
  const many = Array.from({ length: 30 }, (_, i) => ({ id: `par-${i}`, data: wav(30_000 + i) }))
  await Promise.all(many.map((m) => put(r.store, m.id, m.data)))
  for (const m of many) t.equal(sha256(await readFile(join(r.store.root, r.store.get(m.id)!.file))), sha256(m.data))
  t.same(await readdir(r.store.tmpDir), [])
})

t.test('a callid or box that is unsafe as a file name is refused and nothing is written', async (t) => {
  const r = await storeRig(t)
  const bad = ['../evil', '..', 'a/b', 'a\\b', '', '.hidden', 'x'.repeat(129), 'a\u0000b', '%2e%2e', 'a..b', 'ca ll', 'é', 'x~2']
  for (const callid of bad) {
    const err = await put(r.store, callid, wav(100)).catch((e) => e)
    t.type(err, InvalidRecording, JSON.stringify(callid))
    t.equal(err.field, 'callid')
  }
  const e2 = await put(r.store, 'fine', wav(100), { box: '../../etc' }).catch((e) => e)
  t.type(e2, InvalidRecording)
  t.equal(e2.field, 'box')
  t.same(
    (await listFiles(r.dataDir)).filter((f) => !f.startsWith('telbridge.db')),
    [],
    'nothing anywhere under dataDir but the database',
  )
  t.same(await readdir(join(r.dataDir, '..')).then((l) => l.filter((n) => n === 'evil')), [])
  // the longest allowed, and every allowed character
  t.equal((await put(r.store, 'A-z_0.9'.padEnd(128, 'x'), wav(100))).outcome, 'stored')
  // a box MAC in another spelling is normalised
  t.equal((await put(r.store, 'macform', wav(100), { box: '00-00-00-00-00-0A' })).record.box, BOX)
})

t.test('upload fields are data: odd names are kept as sent and change nothing else', async (t) => {
  const r = await storeRig(t)
  const tmp = await r.store.receive(chunked(wav(100)))
  const f = JSON.parse('{"__proto__":"x","constructor":"y","callid":"odd","start_time_secs":"1714521600"}')
  const res = await r.store.commit(tmp, { callid: 'odd', ext: 'wav', box: BOX, fields: f })
  t.equal(res.record.fields.__proto__ as unknown, 'x')
  t.equal(res.record.fields.constructor as unknown, 'y')
  t.equal(({} as any).x, undefined)
  const r2 = await r.reopen()
  t.same(Object.entries(r2.store.get('odd')!.fields), Object.entries(f))
})

t.test('an unknown extension is stored under the type the bytes show, never a name from the box', async (t) => {
  const r = await storeRig(t)
  t.equal((await put(r.store, 'e1', wav(100), { ext: '../../x' })).record.ext, 'wav')
  t.equal((await put(r.store, 'e2', Buffer.from('#!AMR\n' + 'x'.repeat(50)), { ext: 'exe' })).record.ext, 'amr')
  t.equal((await put(r.store, 'e3', randomBytes(50).fill(1, 0, 4), { ext: 'sh' })).record.contentType, 'application/octet-stream')
  t.equal((await put(r.store, 'e4', randomBytes(50), { ext: 'MP3' })).record.contentType, 'audio/mpeg')
  t.equal(audioExt('rec/../../a.MP3', undefined), 'mp3')
  t.equal(audioExt('noext', 'audio/x-wav'), 'wav')
  t.equal(audioExt('x.bin', '', wav(100)), 'wav')
  t.equal(audioExt(undefined, undefined, Buffer.from('ID3xxxx')), 'mp3')
  t.equal(audioExt('a.txt', 'text/plain', Buffer.from('hello')), 'bin')
})

const root = process.getuid?.() === 0
t.test('an unwritable directory is a storage error naming it, not a hang', { skip: root || process.platform === 'win32' ? 'root ignores directory permissions' : false }, async (t) => {
  const r = await storeRig(t)
  await chmod(r.store.tmpDir, 0o500)
  const src = chunked(wav(50_000))
  const err = await r.store.receive(src).catch((e) => e)
  t.type(err, StorageError)
  t.equal(err.errno, 'EACCES')
  t.match(err.message, /permission denied \(EACCES\) while writing .*\.tmp/)
  t.equal(toApiError(err).status, 507)
  t.ok(src.destroyed, 'the upload is not left hanging')
  await chmod(r.store.tmpDir, 0o700)

  // the date directory cannot be made: commit fails, the temp is gone, nothing indexed
  await chmod(r.store.root, 0o500)
  const tmp = await r.store.receive(chunked(wav(1000)))
  const e2 = await r.store.commit(tmp, { callid: 'ro', ext: 'wav', box: BOX, fields: fields('ro') }).catch((e) => e)
  t.type(e2, StorageError)
  t.match(e2.message, /permission denied \(EACCES\) while creating/)
  t.same(await readdir(r.store.tmpDir), [])
  t.equal(r.store.size, 0)
  await chmod(r.store.root, 0o700)

  // the day directory exists but is read-only
  const ok = await put(r.store, 'first', wav(100))
  const day = join(r.store.root, dayDir(Date.parse(ok.record.time)))
  await chmod(day, 0o500)
  const e3 = await put(r.store, 'second', wav(100)).catch((e) => e)
  t.type(e3, StorageError)
  t.match(e3.message, /EACCES/)
  t.same(await readdir(r.store.tmpDir), [])
  await chmod(day, 0o700)
  t.same(await listFiles(r.store.root), [`${dayDir(Date.parse(ok.record.time))}/first.wav`, `${dayDir(Date.parse(ok.record.time))}/first.wav.json`])
  t.match(await r.metrics.render(), /reason="storage"\} 3/)
})

t.test('a directory blocked by a file is a storage error (also as root)', async (t) => {
  const r = await storeRig(t)
  await rm(r.store.tmpDir, { recursive: true })
  await writeFile(r.store.tmpDir, 'in the way')
  const src = chunked(wav(50_000))
  const err = await r.store.receive(src).catch((e) => e)
  t.type(err, StorageError)
  t.match(err.message, /a file is in the way of a directory \(EEXIST\) while creating .*\.tmp/)
  t.ok(src.destroyed, 'the upload is not left hanging')
  await rm(r.store.tmpDir)
  // the year directory of the call is a file
  const when = Date.UTC(2024, 6, 1, 12)
  await writeFile(join(r.store.root, String(new Date(when).getFullYear())), 'in the way')
  const tmp = await r.store.receive(chunked(wav(1000)))
  const e2 = await r.store.commit(tmp, { callid: 'blocked', ext: 'wav', box: BOX, fields: fields('blocked', { start_time_secs: String(when / 1000) }) }).catch((e) => e)
  t.type(e2, StorageError)
  t.match(e2.message, /(ENOTDIR|EEXIST)\) while creating/)
  t.equal(toApiError(e2).status, 507)
  t.same(await readdir(r.store.tmpDir), [], 'the temp is gone')
  t.equal(r.store.size, 0)
  t.equal(r.events.length, 0)
})

t.test('storage errors say what happened', async (t) => {
  const e = new StorageError('writing', '/data/x', Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }))
  t.equal(e.message, 'disk full (ENOSPC) while writing /data/x')
  t.equal(toApiError(e).toJSON().error.code, 'INSUFFICIENT_STORAGE')
  t.match(new StorageError('x', 'y', Object.assign(new Error(''), { code: 'EROFS' })).message, /read-only filesystem/)
})

t.test('a restart rebuilds the same index from the sidecars', async (t) => {
  const r = await storeRig(t)
  const recs = []
  for (let i = 0; i < 12; i++) recs.push((await put(r.store, `rb-${i}`, wav(500 + i), { fields: { channel: String((i % 4) + 1), start_time_secs: String(1714521600 + i * 3600) } })).record)
  recs.push((await put(r.store, 'rb-0', wav(700))).record) // kept-both
  const before = r.store.find({ limit: 1000 })
  const r2 = await r.reopen()
  t.equal(r2.store.size, 13)
  t.same(r2.store.find({ limit: 1000 }), before)
  for (const rec of recs) t.same(r2.store.get(rec.id), rec)
  t.equal(r2.store.get('rb-0')!.id, 'rb-0')
  // a new upload after the restart still sees the stored ones
  t.equal((await put(r2.store, 'rb-3', await readFile(join(r2.store.root, recs[3]!.file)))).outcome, 'duplicate')
  t.equal((await put(r2.store, 'rb-0', wav(10))).record.id, 'rb-0~3')
})

t.test('a crash at any point loses no acknowledged recording and indexes no partial one', async (t) => {
  const r = await storeRig(t)
  const keep = wav(3000)
  const acked = await put(r.store, 'acked', keep)
  const day = join(r.store.root, dayDir(Date.parse(acked.record.time)))
  const dayRel = dayDir(Date.parse(acked.record.time))
  await r.store.close()

  // 1. crash while receiving: only the temp file
  await writeFile(join(r.store.tmpDir, '0b9f1c2e-1111-4222-8333-944445555666.part'), randomBytes(1000))
  // 2. crash after the audio was moved into place, before its sidecar
  await writeFile(join(day, 'nosidecar.wav'), wav(800))
  // 3. crash while the sidecar was being written: the hidden temp, cut off
  const whole = await readFile(join(day, 'acked.wav.json'), 'utf8')
  await writeFile(join(day, 'halfway.wav'), wav(900))
  await writeFile(join(day, '.halfway.wav.json.1a2b3c4d.tmp'), whole.slice(0, 100))
  // 4. a sidecar whose audio is gone, and one whose audio is shorter than recorded
  await writeFile(join(day, 'gone.wav.json'), whole.replace(/"acked"/g, '"gone"'))
  await writeFile(join(day, 'short.wav'), keep.subarray(0, 1000))
  await writeFile(join(day, 'short.wav.json'), whole.replace(/"acked"/g, '"short"'))
  // 5. a damaged sidecar (not ours to repair)
  await writeFile(join(day, 'broken.wav'), wav(100))
  await writeFile(join(day, 'broken.wav.json'), '{"format":"telbridge.recording/1","id":"bro')
  // 6. something an operator put there
  await writeFile(join(day, 'README.txt'), 'ours')
  // 7. a sidecar naming another file
  await writeFile(join(day, 'alias.wav'), keep)
  await writeFile(join(day, 'alias.wav.json'), whole)

  const r2 = await r.reopen()
  t.same(
    r2.store.find({ limit: 100 }).recordings.map((x) => x.id),
    ['acked'],
    'only the acknowledged recording is indexed',
  )
  t.same(await readFile(join(day, 'acked.wav')), keep)
  const files = await listFiles(r2.store.root)
  t.same(
    files,
    [
      `${dayRel}/acked.wav`,
      `${dayRel}/acked.wav.json`,
      `${dayRel}/alias.wav`,
      `${dayRel}/alias.wav.json`,
      `${dayRel}/README.txt`,
      `${dayRel}/broken.wav`,
      `${dayRel}/broken.wav.json`,
      `${dayRel}/gone.wav.json`,
      `${dayRel}/short.wav`,
      `${dayRel}/short.wav.json`,
      `orphans/${dayRel}/halfway.wav`,
      `orphans/${dayRel}/nosidecar.wav`,
    ].sort(),
    'temps removed; audio without a sidecar moved to orphans, not deleted; the rest left for an operator',
  )
  t.ok(r2.logs.some((l) => /moved to orphans/.test(l.msg) && l.file === `${dayRel}/nosidecar.wav`))
  t.ok(r2.logs.some((l) => /sidecar not indexed/.test(l.msg) && /shorter|bytes/.test(String(l.reason)) && l.file === `${dayRel}/short.wav.json`))
  t.match(await r2.metrics.render(), /telbridge_recordings_orphans_total 2/)
  t.equal(r2.store.get('acked')!.source, `800hu-${BOX}`)
  // the box sends the interrupted upload again: it is stored under its own name
  const again = await put(r2.store, 'nosidecar', await readFile(join(r2.store.root, 'orphans', dayRel, 'nosidecar.wav')))
  t.equal(again.outcome, 'stored')
  t.equal(again.record.id, 'nosidecar')
  // a name taken by an unindexed file is never overwritten: the upload goes beside it
  const gone = await put(r2.store, 'gone', wav(100))
  t.equal(gone.record.id, 'gone~2')
  const short = await put(r2.store, 'short', wav(100))
  t.equal(short.record.id, 'short~2')
  t.equal((await stat(join(day, 'short.wav'))).size, 1000, 'the unindexed file is untouched')
})

t.test('a sidecar name taken by something unindexed is never overwritten', async (t) => {
  const r = await storeRig(t)
  const ok = await put(r.store, 'one', wav(100))
  const day = join(r.store.root, dayDir(Date.parse(ok.record.time)))
  await mkdir(join(day, 'two.wav.json'))
  const res = await put(r.store, 'two', wav(100))
  t.equal(res.record.id, 'two~2')
  t.equal(r.store.get('two')!.id, 'two~2', 'the callid finds it')
  t.ok((await stat(join(day, 'two.wav.json'))).isDirectory())
})

t.test('retention deletes indexed recordings past keepDays, and nothing else', async (t) => {
  const DAY = 86400_000
  const t0 = Date.UTC(2025, 2, 10, 12)
  const r = await storeRig(t, { recordings: { keepDays: 30 }, now: t0 - 40 * DAY })
  const secs = (ms: number) => String(Math.floor(ms / 1000))
  // received 40 days ago about a call 40 days ago
  const old = await put(r.store, 'old', wav(100), { fields: { start_time_secs: secs(t0 - 40 * DAY) } })
  const old2 = await put(r.store, 'old', wav(101), { fields: { start_time_secs: secs(t0 - 40 * DAY) } })
  // received 10 days ago
  r.clock.now = t0 - 10 * DAY
  const recent = await put(r.store, 'recent', wav(100), { fields: { start_time_secs: secs(t0 - 10 * DAY) } })
  // received today about a call 45 days ago (a box's backlog): kept its full term
  r.clock.now = t0
  await put(r.store, 'late', wav(100), { fields: { start_time_secs: secs(t0 - 45 * DAY) } })
  // unindexed things in the old day directory
  const oldDay = join(r.store.root, dayDir(Date.parse(old.record.time)))
  await writeFile(join(oldDay, 'notes.txt'), 'hand-placed')
  const res = await r.store.sweep()
  t.same(res.removed.sort(), ['old', 'old~2'])
  t.same(
    r.store
      .find({ limit: 10 })
      .recordings.map((x) => x.id)
      .sort(),
    ['late', 'recent'],
  )
  const files = await listFiles(r.store.root)
  t.notOk(
    files.some((f) => f.includes('/old')),
    'audio and sidecar gone',
  )
  t.ok(files.includes(`${dayDir(Date.parse(old.record.time))}/notes.txt`), 'the unindexed file is kept')
  const ev = r.events.find((e) => e.type === 'recording.expired')
  t.match(ev?.data, { count: 2, keepDays: 30, ids: ['old', 'old~2'] })
  t.ok(r.logs.some((l) => /retention removed/.test(l.msg) && l.removed === 2))
  t.match(await r.metrics.render(), /telbridge_recordings_expired_total 2/)
  t.ok(old2)
  // a second sweep finds nothing; the emptied directories are gone unless something unindexed is there
  t.same((await r.store.sweep()).removed, [])
  await unlink(join(oldDay, 'notes.txt'))
  r.clock.now = t0 + 25 * DAY
  const res2 = await r.store.sweep()
  t.same(res2.removed, ['recent'])
  const recentDay = join(r.store.root, dayDir(Date.parse(recent.record.time)))
  t.equal(
    await stat(recentDay).then(
      () => 'there',
      (e) => e.code,
    ),
    'ENOENT',
    'its emptied day directory is removed',
  )
  t.same(
    (await listFiles(r.store.root)).filter((f) => !f.startsWith('.tmp')).map((f) => f.split('/').pop()),
    ['late.wav', 'late.wav.json'],
  )
  // one sweep runs at open
  r.clock.now = t0 + 60 * DAY
  const r2 = await r.reopen()
  t.equal(r2.store.size, 0)
  t.ok(r2.events.some((e) => e.type === 'recording.expired'))
})

t.test('the periodic sweep runs on its own', async (t) => {
  const r = await storeRig(t, { recordings: { keepDays: 1 }, sweepIntervalMs: 20 })
  await put(r.store, 'p', wav(100), { fields: { start_time_secs: String(Math.floor(r.clock.now / 1000)) } })
  r.clock.now += 3 * 86400_000
  await until(() => r.store.size === 0)
  t.pass('removed by the timer')
})

t.test('query times', async (t) => {
  t.equal(parseTime('1714521600000'), 1714521600000)
  t.equal(parseTime('2024-05-01T00:00:00Z'), Date.UTC(2024, 4, 1))
  t.equal(parseTime('2024-05-01T08:00:00+08:00'), Date.UTC(2024, 4, 1))
  t.equal(parseTime('2024-05-01T08:00:00.5+0800'), Date.UTC(2024, 4, 1, 0, 0, 0, 500))
  t.equal(parseTime('2024-05-01 08:09:10'), new Date(2024, 4, 1, 8, 9, 10).getTime(), 'no zone: local time, as the 800hu API writes it')
  t.equal(parseTime('2024-05-01'), new Date(2024, 4, 1).getTime())
  for (const bad of ['2024-02-30', '2024-13-01', 'yesterday', '2024-05-01T25:00', '', '1e9', '2024-5-1']) t.equal(parseTime(bad), null, bad)
})

t.test('a sidecar is never half there: it is written beside as a temp and renamed', async (t) => {
  const r = await storeRig(t)
  const res = await put(r.store, 'atomic', wav(100))
  const day = join(r.store.root, dayDir(Date.parse(res.record.time)))
  t.same((await readdir(day)).sort(), ['atomic.wav', 'atomic.wav.json'])
  // truncating a sidecar (disk damage) makes it unindexed at the next start, never a crash
  await truncate(join(day, 'atomic.wav.json'), 10)
  const r2 = await r.reopen()
  t.equal(r2.store.size, 0)
})
