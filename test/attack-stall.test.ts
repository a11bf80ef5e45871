// Bodies that stall, trickle or never finish their head, connection and upload caps, and the
// attacks that once held (kill -9 during uploads, a full disk), on real sockets on 127.0.0.1.
import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { boxPost, boxRig, MAC, wav } from './helpers/boxes.js'
import { listFiles } from './helpers/recordings.js'

const BOUNDARY = 'tbstallboundary'
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

const partFiles = async (dataDir: string) => (await listFiles(join(dataDir, 'recordings'))).filter((f) => f.endsWith('.part'))

let callSeq = 0
function uploadFields(callid = `stall${++callSeq}`): Record<string, string> {
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
  }
}

/** The fields and the head of the file part, as a box sends them. */
function multipartHead(fields: Record<string, string>): string {
  const f = Object.entries(fields)
    .map(([k, v]) => `--${BOUNDARY}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
    .join('')
  return f + `--${BOUNDARY}\r\ncontent-disposition: form-data; name="file"; filename="rec.wav"\r\ncontent-type: audio/wav\r\n\r\n`
}
const multipartBody = (fields: Record<string, string>, data: Buffer) => Buffer.concat([Buffer.from(multipartHead(fields)), data, Buffer.from(`\r\n--${BOUNDARY}--\r\n`)])

const requestHead = (path: string, type: string, length: number) => `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\nContent-Length: ${length}\r\n\r\n`
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`

interface Conn {
  sock: Socket
  /** performance.now() when the socket closed */
  closed: Promise<number>
  answer(): { status: number; headers: string; body: any } | null
}

function open(url: string, localAddress?: string): Promise<Conn> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const sock = connect({ host: '127.0.0.1', port: Number(u.port), ...(localAddress ? { localAddress } : {}) })
    sock.on('data', (d) => chunks.push(d))
    sock.on('error', () => {})
    const closed = new Promise<number>((r) => sock.once('close', () => r(performance.now())))
    sock.once('connect', () =>
      resolve({
        sock,
        closed,
        answer() {
          const text = Buffer.concat(chunks).toString('utf8')
          const m = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text)
          if (!m) return null
          let body: any = m[3]
          try {
            body = JSON.parse(m[3]!)
          } catch {
            // not JSON: body stays the text
          }
          return { status: Number(m[1]), headers: m[2]!.toLowerCase(), body }
        },
      }),
    )
    sock.once('error', reject)
  })
}

/** An upload that sends its head, its fields and the start of the file, `bytes` of body in all, then nothing. */
async function stalledUpload(url: string, opts: { bytes?: number; localAddress?: string } = {}): Promise<Conn & { stalledAt: number }> {
  const c = await open(url, opts.localAddress)
  const head = Buffer.from(multipartHead(uploadFields()))
  const body = Buffer.concat([head, wav(1000, 3)]).subarray(0, opts.bytes ?? 4096)
  c.sock.write(requestHead('/upload_record', MULTIPART, 10_000_000))
  await new Promise<void>((r) => c.sock.write(body, () => r()))
  return Object.assign(c, { stalledAt: performance.now() })
}

/** A whole upload over node:http, optionally from another loopback address. */
function upload(url: string, data: Buffer, opts: { localAddress?: string; callid?: string } = {}): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  const body = multipartBody(uploadFields(opts.callid), data)
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/upload_record`,
      { method: 'POST', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}), headers: { 'content-type': MULTIPART, 'content-length': body.length } },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (d) => chunks.push(d))
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')), headers: res.headers }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function waitFor(fn: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!(await fn())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

t.test('300 uploads that stop after 4 KB: all answered 408 and closed within bodyIdleSeconds + 5 s, no .part left, a real upload stored meanwhile', async (t) => {
  const idle = 3
  const rig = await boxRig({ maxUploadsPerIp: 1000 }, { ingest: { bodyIdleSeconds: idle } })
  t.teardown(() => rig.stop())
  const conns = await Promise.all(Array.from({ length: 300 }, () => stalledUpload(rig.ingest)))
  const heldAt = performance.now()
  await waitFor(async () => (await partFiles(rig.dir)).length === 300, idle * 1000 - 500, 'a temp file for every stalled upload')
  const real = await upload(rig.ingest, wav(500, 42), { callid: 'real-during-stall' })
  t.equal(real.status, 200)
  t.equal(real.body.status, 0, 'a real upload is stored while 300 are stalled')
  t.ok(performance.now() - heldAt < idle * 1000, 'and that happened while they were held')
  const closedAt = await Promise.all(conns.map((c) => c.closed))
  const worst = Math.max(...closedAt.map((at, i) => at - conns[i]!.stalledAt))
  t.comment(`300 stalled uploads: temp files seen 300, the last closed ${Math.round(worst)} ms after it stalled (bodyIdleSeconds ${idle})`)
  t.ok(worst < (idle + 5) * 1000, `the last closed ${Math.round(worst)} ms after it stalled`)
  t.ok(worst >= idle * 1000 - 50, 'not before bodyIdleSeconds')
  t.same(await partFiles(rig.dir), [], 'no .part left once they are closed')
  const answers = conns.map((c) => c.answer())
  t.equal(
    answers.filter((a) => a?.status === 408 && a.body.status === -13 && a.body.error === 'REQUEST_TIMEOUT' && /connection: close/.test(a.headers)).length,
    300,
    'each got 408 in the vendor shape with Connection: close',
  )
  t.equal((await boxPost(`${rig.ingest}/upload_record`, { cmd: 'hello', satellite: MAC })).body.status, 0, 'the endpoint still answers')
})

t.test('50 uploads at 1 byte/s are cut by the minimum upload rate; an upload at 16 KB/s is not', async (t) => {
  const idle = 2
  const rig = await boxRig({ maxUploadsPerIp: 100 }, { ingest: { bodyIdleSeconds: idle, minUploadBytesPerSecond: 1024 } })
  t.teardown(() => rig.stop())
  const trickles = await Promise.all(
    Array.from({ length: 50 }, async () => {
      const c = await stalledUpload(rig.ingest, { bytes: 2000 })
      const timer = setInterval(() => c.sock.writable && c.sock.write('x'), 1000)
      void c.closed.then(() => clearInterval(timer))
      t.teardown(() => clearInterval(timer))
      return c
    }),
  )
  // a slow real box: 48 KB of recording in 16 KB chunks, one a second, longer than bodyIdleSeconds
  const data = wav(3000, 5)
  const slow = new Promise<{ status: number; body: any }>((resolve, reject) => {
    const body = multipartBody(uploadFields('slow-but-fine'), data)
    const req = request(`${rig.ingest}/upload_record`, { method: 'POST', headers: { 'content-type': MULTIPART, 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (d) => chunks.push(d))
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) }))
    })
    req.on('error', reject)
    let i = 0
    const step = () => {
      if (i >= body.length) return req.end()
      req.write(body.subarray(i, i + 16384))
      i += 16384
      setTimeout(step, 1000)
    }
    step()
  })
  const closedAt = await Promise.all(trickles.map((c) => c.closed))
  const worst = Math.max(...closedAt.map((at, i) => at - trickles[i]!.stalledAt))
  t.comment(`50 uploads at 1 byte/s: the last closed ${Math.round(worst)} ms after it began trickling (bodyIdleSeconds ${idle}, minUploadBytesPerSecond 1024)`)
  t.ok(worst < (2 * idle + 3) * 1000, `all closed, the last after ${Math.round(worst)} ms`)
  const answers = trickles.map((c) => c.answer())
  t.equal(answers.filter((a) => a?.status === 408 && a.body.status === -13 && /minUploadBytesPerSecond/.test(a.body.message)).length, 50, 'each got 408 for its rate, not for idleness')
  const s = await slow
  t.equal(s.body.status, 0, 'the slow real upload is stored')
  t.same(await partFiles(rig.dir), [])
})

t.test('partial bodies: a status post and POST /v1/calls get 408 and are closed; a trickle meets requestTimeoutSeconds; a long poll is not cut', async (t) => {
  const limits = { bodyIdleSeconds: 1, requestTimeoutSeconds: 2 }
  const rig = await boxRig({ longPollSeconds: 3 }, { api: limits, ingest: limits })
  t.teardown(() => rig.stop())
  const poll = (async () => {
    const t0 = performance.now()
    const r = await boxPost(`${rig.ingest}/upload_record`, { cmd: 'getMessageList', satellite: MAC })
    return { r, ms: performance.now() - t0 }
  })()

  const status = await open(rig.ingest)
  status.sock.write(requestHead('/upload_record', 'application/x-www-form-urlencoded', 2000) + 'cmd=channelstatus&satellite=00%3A00%3A00%3A00%3A00%3A01&status=%7B%22chan')
  const t1 = performance.now()
  const calls = await open(rig.api)
  calls.sock.write(requestHead('/v1/calls', 'application/json', 500) + '{"source":"x","action":')
  const t2 = performance.now()
  const trickle = await open(rig.api)
  trickle.sock.write(requestHead('/v1/calls', 'application/json', 500) + '{')
  const t3 = performance.now()
  const timer = setInterval(() => trickle.sock.writable && trickle.sock.write(' '), 300)
  t.teardown(() => clearInterval(timer))

  const s = status.answer.bind(status)
  const [c1, c2, c3] = await Promise.all([status.closed, calls.closed, trickle.closed])
  clearInterval(timer)
  t.ok(c1 - t1 < 1000 + 2000 && c1 - t1 >= 950, `status post closed after ${Math.round(c1 - t1)} ms`)
  t.match(s(), { status: 408, body: { status: -3, error: 'REQUEST_TIMEOUT', message: /bodyIdleSeconds/ } }, 'the box endpoint answers in the vendor shape')
  t.match(s()!.headers, /connection: close/)
  t.ok(c2 - t2 < 1000 + 2000 && c2 - t2 >= 950, `POST /v1/calls closed after ${Math.round(c2 - t2)} ms`)
  t.match(calls.answer(), { status: 408, body: { error: { code: 'REQUEST_TIMEOUT', message: /bodyIdleSeconds/ } } })
  t.ok(c3 - t3 < 2000 + 2000 && c3 - t3 >= 1950, `the trickle closed after ${Math.round(c3 - t3)} ms`)
  t.match(trickle.answer(), { status: 408, body: { error: { code: 'REQUEST_TIMEOUT', message: /requestTimeoutSeconds/ } } })
  t.comment(
    `partial status post closed after ${Math.round(c1 - t1)} ms, partial POST /v1/calls after ${Math.round(c2 - t2)} ms (bodyIdleSeconds 1); trickle after ${Math.round(c3 - t3)} ms (requestTimeoutSeconds 2)`,
  )
  const p = await poll
  t.equal(p.r.body.status, 3003, 'the long poll is answered "no message" when longPollSeconds is up')
  t.ok(p.ms >= 2900, `held ${Math.round(p.ms)} ms, past requestTimeoutSeconds`)
})

t.test('a request head that never ends is closed after headersTimeoutSeconds, on both listeners', async (t) => {
  const limits = { headersTimeoutSeconds: 1 }
  const rig = await boxRig({}, { api: limits, ingest: limits })
  t.teardown(() => rig.stop())
  const timers: NodeJS.Timeout[] = []
  t.teardown(() => timers.forEach(clearInterval))
  const slowHead = async (url: string) => {
    const c = await open(url)
    c.sock.write('POST /upload_record HTTP/1.1\r\nHost: 127.0.0.1\r\n')
    let n = 0
    timers.push(setInterval(() => c.sock.writable && c.sock.write(`X-${n++}: y\r\n`), 200))
    return { c, t0: performance.now() }
  }
  const silent = async (url: string) => ({ c: await open(url), t0: performance.now() })
  const all = await Promise.all([slowHead(rig.ingest), slowHead(rig.api), silent(rig.ingest), silent(rig.api)])
  const took = await Promise.all(all.map(async ({ c, t0 }) => (await c.closed) - t0))
  t.comment(`heads never finished: closed after ${took.map(Math.round).join(', ')} ms (headersTimeoutSeconds 1)`)
  for (const ms of took) t.ok(ms < 1000 + 1500, `closed after ${Math.round(ms)} ms`)
  t.equal(all[0]!.c.answer()?.status, 408, 'a client still talking is told 408')
})

t.test('boxes.maxUploadsPerIp: 8 stalled uploads from 127.0.0.2 hold its share; the 9th gets 503 in the vendor shape; 127.0.0.1 uploads fine', async (t) => {
  const idle = 3
  const rig = await boxRig({ maxUploadsPerIp: 8 }, { ingest: { bodyIdleSeconds: idle } })
  t.teardown(() => rig.stop())
  const held = await Promise.all(Array.from({ length: 8 }, () => stalledUpload(rig.ingest, { localAddress: '127.0.0.2' })))
  await waitFor(async () => (await partFiles(rig.dir)).length === 8, 2000, 'the 8 uploads are in progress')
  const ninth = await upload(rig.ingest, wav(200, 9), { localAddress: '127.0.0.2', callid: 'ninth' })
  t.equal(ninth.status, 503)
  t.match(ninth.body, { status: -13, error: 'TOO_MANY_CLIENTS', message: /maxUploadsPerIp/ })
  t.equal(ninth.headers['retry-after'], '5')
  t.equal(ninth.headers.connection, 'close')
  const real = await upload(rig.ingest, wav(200, 10), { localAddress: '127.0.0.1', callid: 'real-box' })
  t.equal(real.body.status, 0, 'a box on another address is not held up')
  await Promise.all(held.map((c) => c.closed))
  const after = await upload(rig.ingest, wav(200, 11), { localAddress: '127.0.0.2', callid: 'after-stalls' })
  t.equal(after.body.status, 0, 'once the stalls are cut, the address uploads again')
})

t.test('ingest.maxConnections: connections past it are dropped; once the stalls clear, new ones are served', async (t) => {
  const rig = await boxRig({}, { ingest: { maxConnections: 20, bodyIdleSeconds: 2 } })
  t.teardown(() => rig.stop())
  const held = await Promise.all(
    Array.from({ length: 20 }, async () => {
      const c = await open(rig.ingest)
      c.sock.write(requestHead('/upload_record', 'application/x-www-form-urlencoded', 1000) + 'cmd=channelstatus&sat')
      return c
    }),
  )
  await sleep(100)
  const extra = await open(rig.ingest)
  extra.sock.write(requestHead('/upload_record', 'application/x-www-form-urlencoded', 9) + 'cmd=hello')
  const t0 = performance.now()
  const dropped = await extra.closed
  t.ok(dropped - t0 < 1000, 'the 21st connection is closed at once')
  t.equal(extra.answer(), null, 'unserved')
  await Promise.all(held.map((c) => c.closed))
  const r = await boxPost(`${rig.ingest}/upload_record`, { cmd: 'hello', satellite: MAC })
  t.equal(r.status, 200, 'after the stalls clear, a new connection is served')
})

// --- attacks that once held --------------------------------------------------------------------

function startChild(configFile: string): Promise<{ child: ChildProcess; apiUrl: string; ingestUrl: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'helpers', 'daemon-child.ts'), configFile], {
    cwd: join(import.meta.dirname, '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d) => {
      out += d
      const nl = out.indexOf('\n')
      if (nl >= 0) resolve({ child, ...JSON.parse(out.slice(0, nl)) })
    })
    child.once('exit', (code) => reject(new Error(`daemon child exited ${code} before listening`)))
  })
}

t.test('kill -9 during 20 concurrent uploads loses no acknowledged recording', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tb-kill-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const configFile = join(dir, 'config.json')
  await writeFile(configFile, JSON.stringify({ api: { port: 0 }, ingest: { host: '127.0.0.1', port: 0 }, dataDir: join(dir, 'data'), boxes: { allow: [MAC], maxUploadsPerIp: 100 } }))
  const first = await startChild(configFile)
  t.teardown(() => first.child.kill('SIGKILL'))
  const datas = Array.from({ length: 20 }, (_, i) => wav(8000 + i * 500, 200 + i))
  const acked: string[] = []
  let killed = false
  const exited = new Promise((r) => first.child.once('exit', r))
  await Promise.all(
    datas.map(async (data, i) => {
      await sleep(i * 25)
      const r = await upload(first.ingestUrl, data, { callid: `kill${i}` }).catch(() => null)
      if (r?.body.status === 0) acked.push(`kill${i}`)
      if (acked.length >= 5 && !killed) {
        killed = true
        first.child.kill('SIGKILL')
      }
    }),
  )
  await exited
  t.comment(`${acked.length} of 20 uploads acknowledged before kill -9`)
  t.ok(acked.length >= 5, 'some were acknowledged')
  const second = await startChild(configFile)
  t.teardown(() => second.child.kill('SIGKILL'))
  const list = (await (await fetch(`${second.apiUrl}/v1/recordings?limit=100`)).json()) as { recordings: { id: string; file: string; sha256: string }[] }
  for (const id of acked) {
    const rec = list.recordings.find((r) => r.id === id)
    t.ok(rec, `${id} is listed after the restart`)
    if (!rec) continue
    const audio = join(dir, 'data', 'recordings', rec.file)
    t.equal(sha256(await readFile(audio)), sha256(datas[Number(id.slice(4))]!), `${id}: its bytes on disk`)
    t.ok((await stat(`${audio}.json`)).isFile(), `${id}: its sidecar`)
  }
  t.same(await partFiles(join(dir, 'data')), [], 'no temp file survives the restart')
})

const mountDir = await mkdtemp(join(tmpdir(), 'tb-full-'))
const mounted = process.platform === 'linux' && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountDir], { stdio: 'ignore' }).status === 0
t.teardown(async () => {
  if (mounted) spawnSync('umount', [mountDir])
  await rm(mountDir, { recursive: true, force: true })
})

t.test('a full disk answers 507 and keeps every stored file', { skip: mounted ? false : 'cannot mount a 2 MB tmpfs here (needs root and mount)' }, async (t) => {
  const daemon = new Daemon(parseConfig({ api: { port: 0 }, ingest: { host: '127.0.0.1', port: 0 }, dataDir: mountDir, boxes: { allow: [MAC] } }), { log: pino({ level: 'silent' }) })
  const { apiUrl, ingestUrl } = await daemon.start()
  t.teardown(() => daemon.stop())
  const stored = new Map<string, Buffer>()
  let full: Awaited<ReturnType<typeof upload>> | null = null
  for (let i = 0; i < 20 && !full; i++) {
    const data = wav(20_000, 300 + i) // 320 KB
    const r = await upload(ingestUrl!, data, { callid: `full${i}` })
    if (r.body.status === 0) stored.set(`full${i}`, data)
    else full = r
  }
  t.ok(stored.size >= 2, `${stored.size} stored before the disk filled`)
  t.match(full, { status: 507, body: { status: -13, error: 'INSUFFICIENT_STORAGE', message: /disk full|ENOSPC/ } })
  const list = (await (await fetch(`${apiUrl}/v1/recordings?limit=100`)).json()) as { recordings: { id: string; file: string }[] }
  for (const [id, data] of stored) {
    const rec = list.recordings.find((r) => r.id === id)
    t.ok(rec, `${id} listed`)
    if (rec) t.equal(sha256(await readFile(join(mountDir, 'recordings', rec.file))), sha256(data), `${id} intact`)
  }
  t.same(await partFiles(mountDir), [], 'the failed upload left no temp file')
  t.equal((await boxPost(`${ingestUrl}/upload_record`, { cmd: 'hello', satellite: MAC })).body.status, 0, 'status posts still work')
})
