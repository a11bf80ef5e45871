import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { boxPost, boxUpload, MAC, statusJson, wav } from './helpers/boxes.js'
import { getJson, SseReader, until } from './helpers/sse.js'

// kill -9 while 800hu uploads and finished calls flow (issue 13 checks): a real daemon process (the
// compiled bin, as users run it), killed with SIGKILL at random moments, restarted on the same dataDir.
const CLI = join(import.meta.dirname, '..', 'dist', 'daemon', 'cli.js')
const ROUNDS = 4
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => resolve(a && typeof a === 'object' ? a.port : 0))
    })
  })
}

t.test('kill -9 at random moments loses no acknowledged recording and no finished call, and indexes no partial upload', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tb-crash-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const [apiPort, ingestPort] = [await freePort(), await freePort()]
  const cfg = join(dir, 'config.json')
  await writeFile(
    cfg,
    JSON.stringify({ api: { port: apiPort }, ingest: { host: '127.0.0.1', port: ingestPort }, dataDir: join(dir, 'data'), boxes: { allow: [MAC], maxUploadsPerIp: 50 }, log: { level: 'warn' } }),
  )
  const api = `http://127.0.0.1:${apiPort}`
  const ingest = `http://127.0.0.1:${ingestPort}`
  let child: ChildProcess | null = null
  t.teardown(() => void child?.kill('SIGKILL'))
  const start = async () => {
    child = spawn(process.execPath, [CLI, 'run', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    child.stderr!.on('data', (d) => (err += String(d)))
    const c = child
    await until(async () => c.exitCode !== null || (await fetch(`${api}/v1/health`).catch(() => null))?.status === 200, 20000)
    if (c.exitCode !== null) throw new Error(`daemon exited ${c.exitCode}: ${err}`)
  }

  /** callid → sha256 of every upload answered 200 with status 0 */
  const acked = new Map<string, string>()
  /** ids of calls whose call.ended a client received */
  const ended = new Set<string>()
  let seq = 0
  let sent = 0

  const check = async (label: string) => {
    for (const [callid, sum] of acked) {
      const r = await getJson(`${api}/v1/recordings/${callid}`)
      if (r.status !== 200) {
        t.fail(`${label}: acknowledged ${callid} is indexed (got ${r.status})`)
        continue
      }
      const a = await fetch(`${api}/v1/recordings/${callid}/audio`)
      if (sha256(new Uint8Array(await a.arrayBuffer())) !== sum) t.fail(`${label}: ${callid} plays its bytes`)
    }
    // everything indexed is whole: its audio on disk has the recorded size and hash
    let bad = 0
    let indexed = 0
    for (let offset = 0; ; offset += 1000) {
      const page = (await getJson(`${api}/v1/recordings?limit=1000&offset=${offset}`)).body
      for (const rec of page.recordings) {
        indexed++
        const data = await readFile(join(dir, 'data', 'recordings', rec.file)).catch(() => Buffer.alloc(0))
        if (data.length !== rec.size || sha256(data) !== rec.sha256) bad++
      }
      if (offset + 1000 >= page.total) break
    }
    t.equal(bad, 0, `${label}: no partial recording indexed (${indexed} indexed, ${acked.size} acknowledged)`)
    const db = new Database(join(dir, 'data', 'telbridge.db'), { readonly: true, fileMustExist: true })
    try {
      const have = db.prepare('SELECT id FROM calls WHERE id = ?').pluck()
      const missing = [...ended].filter((id) => have.get(id) === undefined)
      t.same(missing, [], `${label}: every call a client saw end (${ended.size}) is in the log`)
    } finally {
      db.close()
    }
  }

  const t0 = Date.now()
  for (let round = 0; round < ROUNDS; round++) {
    await start()
    if (round > 0) await check(`after kill ${round}`)
    const sse = await SseReader.open(`${api}/v1/events`)
    let running = true
    const uploader = async () => {
      while (running) {
        const callid = `k${round}-${seq++}`
        const data = wav(200 + (seq % 50) * 10, seq)
        const now = Math.floor(Date.now() / 1000)
        sent++
        const fields = {
          cmd: 'upload',
          satellite: MAC,
          channel: String((seq % 4) + 5),
          start_time_secs: String(now - 30),
          start_time_hangup: String(now),
          direction: 'in',
          callid_dialed: `1390000${seq}`,
          duration_secs: '25',
          recorded: '1',
          callid,
        }
        const r = await boxUpload(`${ingest}/upload_record`, fields, { data }).catch(() => null)
        if (r?.status === 200 && r.body?.status === 0) acked.set(callid, sha256(data))
      }
    }
    // channels 1-4 go ringing → talking → idle over and over: finished calls from line state
    const liner = async () => {
      for (let step = 0; running; step++) {
        const states = [1, 2, 3, 4].map((ch) => [2, 4, 4, 1][(step + ch) % 4]!)
        const status = JSON.parse(statusJson(states)) as { channels: { phone: string; peer: string }[] }
        status.channels.forEach((c, i) => {
          c.phone = `1380000${round}${i}${Math.floor(step / 4)}`
          c.peer = '2'
        })
        await boxPost(`${ingest}/upload_record`, { cmd: 'channelstatus', satellite: MAC, status: JSON.stringify(status) }).catch(() => null)
        await new Promise((r) => setTimeout(r, 15))
      }
    }
    const work = Promise.all([uploader(), uploader(), uploader(), liner()])
    await new Promise((r) => setTimeout(r, 600 + Math.random() * 1400))
    child!.kill('SIGKILL')
    await new Promise((r) => child!.once('exit', r))
    running = false
    await work
    for (const e of sse.events) if (e.event === 'call.ended') ended.add((e.data as { id: string }).id)
    sse.close()
  }
  await start()
  await check('after the last kill')
  t.ok(acked.size > 0, `${acked.size} of ${sent} uploads acknowledged across ${ROUNDS} kills`)
  t.ok(ended.size > 0, `${ended.size} call.ended events seen`)
  child!.kill('SIGTERM')
  await new Promise((r) => child!.once('exit', r))
  t.ok(Date.now() - t0 < 60_000, 'bounded')
})
