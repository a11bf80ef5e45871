import t from 'tap'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { boxUpload, MAC, wav } from '../helpers/boxes.js'
import { listFiles } from '../helpers/recordings.js'
import { getJson } from '../helpers/sse.js'
import { cDrive, cPath, runWin, startDaemon, windowsEnv, windowsUnavailable, winPath, type WinDaemon } from '../helpers/windows.js'

/**
 * Issue 14, item 6: 800hu recordings stored by the daemon under 32-bit Windows Node in Wine, on
 * the prefix's C: drive: uploads (hash-checked, a callid Windows reserves as a device name), a
 * restart that rebuilds the index from the sidecars, and retention at start. Then the store's file
 * primitives under Windows semantics, run in Windows Node itself: a sidecar renamed over a file a
 * reader holds open (Windows refuses while it is open: writeAtomic retries for 2 s), an audio file deleted while a download reads it, fsync of files (opened for
 * writing: Windows refuses a flush on a read handle), and directory fsync skipped (Windows cannot
 * open a directory that way).
 */

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const DAY = 86400_000
const why = windowsUnavailable('ia32')
// a cold cache (npm downloads, new Wine prefixes) on a loaded machine takes longer than tap's 120 s
t.setTimeout(300_000)

function fields(callid: string, startMs: number): Record<string, string> {
  const s = Math.floor(startMs / 1000)
  return {
    cmd: 'upload',
    satellite: MAC,
    channel: '1',
    start_time_secs: String(s),
    start_time_hangup: String(s + 60),
    direction: 'in',
    callid_dialed: '13800138000',
    duration_secs: '55',
    id: '17',
    recorded: '1',
    callid,
  }
}

/** the FS check run by Windows Node: each step's outcome as JSON on stdout */
const FS_CHECK = String.raw`
import { createReadStream, readFileSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { once } from 'node:events'
import { pathToFileURL } from 'node:url'
const [dist, dir] = process.argv.slice(2)
const { writeAtomic, fsyncFile, fsyncDir } = await import(pathToFileURL(dist + '\\daemon\\core\\fs.js').href)
const out = { platform: process.platform }
const held = (file) => {
  const s = createReadStream(file, { highWaterMark: 4 })
  const chunks = []
  let hold = true
  const ended = once(s, 'end')
  s.on('data', (c) => { chunks.push(c); if (hold) s.pause() })
  return { s, rest: async () => { hold = false; s.resume(); await ended; return Buffer.concat(chunks).toString() } }
}
// a sidecar renamed over while a reader holds it open: Windows refuses until the reader lets go
const sc = dir + '\\rec.wav.json'
writeFileSync(sc, 'old sidecar content')
let r = held(sc)
await once(r.s, 'data')
const letGo = new Promise((res) => setTimeout(() => res(r.rest()), 300))
let t0 = Date.now()
try { await writeAtomic(sc, 'new sidecar content'); out.renameOverOpen = readFileSync(sc, 'utf8') } catch (e) { out.renameOverOpen = 'error ' + e.code + ' ' + e.message }
out.renameWaitedMs = Date.now() - t0
out.readerAfterRename = await letGo
// a reader that never lets go: the write fails after the retries, the old file whole, no temp left
r = held(sc)
await once(r.s, 'data')
t0 = Date.now()
try { await writeAtomic(sc, 'newer content'); out.renameHeld = 'ok' } catch (e) { out.renameHeld = 'error ' + e.code }
out.renameHeldMs = Date.now() - t0
out.afterHeld = readFileSync(sc, 'utf8')
out.tempsLeft = (await import('node:fs')).readdirSync(dir).filter((n) => n.endsWith('.tmp'))
await r.rest()
// an audio file deleted (retention) while a download reads it
const audio = dir + '\\rec.wav'
writeFileSync(audio, 'audio bytes of a recording')
r = held(audio)
await once(r.s, 'data')
try { await rm(audio); out.deleteOpen = 'ok' } catch (e) { out.deleteOpen = 'error ' + e.code }
out.readerAfterDelete = await r.rest()
// fsync: a file through a write handle; a directory is skipped
try { await fsyncFile(sc); out.fsyncFile = 'ok' } catch (e) { out.fsyncFile = 'error ' + e.code }
try { await fsyncDir(dir); out.fsyncDir = 'ok' } catch (e) { out.fsyncDir = 'error ' + e.code }
try { const fd = openSync(dir, 'r'); try { fsyncSync(fd); out.rawDirSync = 'ok' } finally { closeSync(fd) } } catch (e) { out.rawDirSync = 'error ' + e.code }
process.stdout.write(JSON.stringify(out))
`

t.test(
  'Windows recordings (Node 22 ia32 under Wine): uploads, restart, index rebuild, retention, file semantics',
  { skip: why ? `Windows group skipped: ${why}` : false, timeout: 240_000 },
  async (t) => {
    const env = await windowsEnv('ia32')
    const runId = `rec-${process.pid}`
    const dir = cDrive(env, 'tbwin', runId)
    const win = (...p: string[]) => cPath('tbwin', runId, ...p)
    mkdirSync(dir, { recursive: true })
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const data = join(dir, 'data')
    const recDir = join(data, 'recordings')
    const config = (extra: Record<string, unknown> = {}) => {
      writeFileSync(
        join(dir, 'telbridge.json'),
        JSON.stringify({ api: { host: '127.0.0.1', port: 0 }, ingest: { host: '127.0.0.1', port: 0 }, dataDir: win('data'), boxes: { allow: [MAC] }, ...extra }, null, 2),
      )
      return win('telbridge.json')
    }
    const start = async (extra: Record<string, unknown> = {}) => {
      const d = await startDaemon(env, config(extra))
      t.teardown(() => d.stop())
      const ingest = (await d.proc.logLines()).find((l) => l.msg === 'telbridge started')!.ingest as string
      return { d, ingest }
    }
    const stop = async (d: WinDaemon) => {
      const { code, ms } = await d.stop()
      t.equal(code, 0, `stopped cleanly in ${ms} ms`)
      d.proc.cleanup()
    }
    const now = Date.now()
    const old = wav(300, 1)
    const recent = wav(400, 2)
    const device = wav(200, 3)

    // 1. uploads
    let { d, ingest } = await start()
    for (const [callid, audio, startMs] of [
      ['old-1', old, now - 40 * DAY],
      ['new-1', recent, now - 60_000],
      ['CON', device, now - 60_000],
    ] as const) {
      const r = await boxUpload(`${ingest}/voip/api/upload_record`, fields(callid, startMs), { data: audio })
      t.same([r.status, r.body.status, r.body.callid], [200, 0, callid], `upload ${callid} acknowledged`)
    }
    const files = (await listFiles(recDir)).filter((f) => !f.startsWith('.tmp'))
    t.ok(
      files.some((f) => /^\d{4}\/\d{2}\/\d{2}\/%43ON\.wav$/.test(f)),
      'CON, a device name on Windows, is stored as %43ON.wav',
    )
    const onDisk = (callid: string) => files.find((f) => f.endsWith(`/${callid}.wav`))
    t.equal(sha256(readFileSync(join(recDir, onDisk('new-1')!))), sha256(recent), 'the bytes on disk are the bytes sent')
    const con = (await getJson(`${d.url}/v1/recordings/CON`)).body
    t.match(con, { id: 'CON', size: device.length, sha256: sha256(device) })
    const audio = await fetch(`${d.url}/v1/recordings/CON/audio`)
    t.equal(sha256(new Uint8Array(await audio.arrayBuffer())), sha256(device), 'the audio of CON reads back')
    await stop(d)

    // 2. restart: the index is rebuilt from the sidecars. Make old-1 received 40 days ago, as if it had been
    // kept that long (its sidecar's receipt time), and drop any index file so the rebuild is from sidecars only.
    const sidecar = join(recDir, `${onDisk('old-1')!}.json`)
    const sc = JSON.parse(readFileSync(sidecar, 'utf8'))
    writeFileSync(sidecar, JSON.stringify({ ...sc, receivedAt: new Date(now - 40 * DAY).toISOString() }, null, 2) + '\n')
    for (const f of readdirSync(data)) if (/\.(db|sqlite)(-wal|-shm|-journal)?$/.test(f)) rmSync(join(data, f))
    ;({ d, ingest } = await start())
    const list = (await getJson(`${d.url}/v1/recordings?limit=100`)).body
    t.same(list.recordings.map((r: any) => r.id).sort(), ['CON', 'new-1', 'old-1'], 'the restarted daemon indexes the same three')
    const rebuilt = (await d.proc.logLines()).find((l) => l.msg === 'recording index built from every sidecar')
    t.match(rebuilt, { mode: 'full', indexed: 3 }, 'rebuilt from three sidecars')
    await stop(d)

    // 3. retention at start: keepDays 30 removes old-1 (files and index entry), nothing else
    ;({ d, ingest } = await start({ recordings: { keepDays: 30 } }))
    await new Promise((r) => setTimeout(r, 500))
    const kept = (await getJson(`${d.url}/v1/recordings?limit=100`)).body
    t.same(kept.recordings.map((r: any) => r.id).sort(), ['CON', 'new-1'], 'old-1 expired')
    t.notOk(existsSync(join(recDir, onDisk('old-1')!)), 'its audio is gone')
    t.notOk(existsSync(sidecar), 'its sidecar is gone')
    t.equal(sha256(readFileSync(join(recDir, onDisk('new-1')!))), sha256(recent), 'new-1 untouched')
    await stop(d)

    // 4. the file primitives under Windows semantics
    const checkDir = join(dir, 'fscheck')
    mkdirSync(checkDir)
    writeFileSync(join(dir, 'fs-check.mjs'), FS_CHECK)
    const r = await runWin(env, [win('fs-check.mjs'), `${winPath(env.tree)}\\dist`, win('fscheck')], { timeoutMs: 60_000 })
    t.equal(r.code, 0, `the check ran (${r.stderr.slice(-800)})`)
    const out = JSON.parse(r.stdout)
    t.equal(out.platform, 'win32')
    t.equal(out.renameOverOpen, 'new sidecar content', `writeAtomic over a file a reader holds open: done once the reader closed (${out.renameWaitedMs} ms)`)
    t.equal(out.readerAfterRename, 'old sidecar content', 'and that reader read the old content to its end')
    t.comment(`a reader holding it open throughout: ${out.renameHeld} after ${out.renameHeldMs} ms`)
    if (out.renameHeld !== 'ok') {
      t.match(out.renameHeld, /^error (EPERM|EACCES|EBUSY)$/, 'a reader that never lets go: the write fails with the reason')
      t.ok(out.renameHeldMs >= 1500, 'after retrying for about 2 s')
    }
    t.equal(out.afterHeld, out.renameHeld === 'ok' ? 'newer content' : 'new sidecar content', 'the file is whole: old or new, never a mix')
    t.same(out.tempsLeft, [], 'no temp file left')
    t.equal(out.deleteOpen, 'ok', 'a file a download reads can be deleted (retention)')
    t.equal(out.readerAfterDelete, 'audio bytes of a recording', 'and the download still gets every byte')
    t.equal(out.fsyncFile, 'ok', 'fsyncFile flushes through a write handle')
    t.equal(out.fsyncDir, 'ok', 'fsyncDir is skipped on Windows')
    t.comment(`a directory opened and fsynced directly under Windows Node (Wine): ${out.rawDirSync}`)
  },
)
