/**
 * 800hu box endpoint: status posts per second, and recording uploads.
 *
 * (a) cmd=channelstatus with 8 channels per POST (urlencoded, as boxes send it), measured with
 *     autocannon (10 connections, 10 s after 2 s of warm-up, twice, alternating) against the daemon's
 *     ingest listener, and beside it against a bare fastify route that only parses the same body
 *     (bench/800hu-ceiling.ts): the ceiling on this machine. The 16 bodies rotate through line states,
 *     so the daemon really updates its channel table and publishes events.
 * (b) 100 concurrent 5 MB WAV uploads (multipart, the seed's fields and fileMd5; each upload on its
 *     own connection), from the first byte sent to the last answer: MB/s of audio accepted (every
 *     upload durable before it is answered). Beside it: `dd if=<the same 500 MB> of=… bs=1M
 *     conv=fsync` on the same filesystem (one file, one fsync), and 100 parallel dd of 5 MB each
 *     (one fsync per file, like the daemon). Peak RSS of the daemon is its VmHWM (a fresh daemon
 *     process for this part, so the peak is the upload's).
 *
 * The daemon and the ceiling run as child processes (as in bench/e2e.ts), so autocannon and the
 * upload client (this process) do not share their event loop; on a 2-core machine the client still
 * takes one core, the same for both targets.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { request, Agent } from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { makeWavOfSize } from '../protocols/wav/index.js'
import { freePort, stopChild, track } from './children.js'
import { finish, fixed, int, load, mb, report, say } from './common.js'

const BENCH = '800hu'
const CLI = fileURLToPath(new URL('../daemon/cli.js', import.meta.url))
const CEILING = fileURLToPath(new URL('./800hu-ceiling.js', import.meta.url))
const MACS = ['00:00:00:00:0b:01']
const CHANNELS = 8
const UPLOADS = Number(process.env.BENCH_800HU_UPLOADS ?? 100)
const UPLOAD_BYTES = 5_000_000
const DURATION = Number(process.env.BENCH_800HU_SECONDS ?? 10)
const CONNECTIONS = 10
/** extra node flags for the daemon process (`--cpu-prof --cpu-prof-dir=…` to profile it; NODE_OPTIONS refuses --cpu-prof) */
const NODE_ARGS = (process.env.BENCH_800HU_NODE_ARGS ?? '').split(' ').filter(Boolean)

// autocannon has no type declarations; the few fields used here
interface AcResult {
  requests: { average: number; total: number }
  latency: { p50: number; p99: number }
  duration: number
  errors: number
  timeouts: number
  non2xx: number
  mismatches: number
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AcResult>
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon

/** `telbridge run` on a temp config; resolves once the ingest listener answers. */
async function startDaemon(dir: string): Promise<{ child: ChildProcess; ingest: string; api: string }> {
  const [apiPort, ingestPort] = [await freePort(), await freePort()]
  const cfg = join(dir, `config-${ingestPort}.json`)
  writeFileSync(
    cfg,
    JSON.stringify({
      api: { host: '127.0.0.1', port: apiPort },
      ingest: { host: '127.0.0.1', port: ingestPort },
      dataDir: join(dir, 'data'),
      log: { level: 'warn' },
      // every upload comes from 127.0.0.1 here; the default boxes.maxUploadsPerIp (8) would refuse most
      boxes: { allow: MACS, maxUploadsPerIp: Math.max(8, UPLOADS) },
    }),
  )
  const child = track(spawn(process.execPath, [...NODE_ARGS, CLI, 'run', '--config', cfg], { stdio: ['ignore', 'ignore', 'inherit'] }))
  const ingest = `http://127.0.0.1:${ingestPort}`
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}`)
    try {
      const r = await fetch(ingest + '/upload_record', { method: 'POST', body: new URLSearchParams({ cmd: 'ping', satellite: MACS[0]! }) })
      await r.text()
      break
    } catch {
      if (i > 200) throw new Error('daemon did not start within 10 s')
      await sleep(50)
    }
  }
  return { child, ingest, api: `http://127.0.0.1:${apiPort}` }
}

async function startCeiling(): Promise<{ child: ChildProcess; url: string }> {
  const child = track(spawn(process.execPath, [CEILING, '0'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }))
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port?: number }) => resolve(m.port ?? 0))
    child.once('exit', (c) => reject(new Error(`ceiling exited with ${c}`)))
  })
  return { child, url: `http://127.0.0.1:${port}` }
}

type Scenario = 'steady' | 'ticking' | 'changing'
const SCENARIOS: Record<Scenario, string> = {
  steady: 'steady lines (the same status again)',
  ticking: 'talk time ticking on 4 of 8 lines',
  changing: 'every line changes state each POST',
}

/**
 * 16 status bodies, 8 channels each: `steady` repeats one status (4 lines talking, 4 idle: a box's
 * heartbeat while nothing happens); `ticking` the same lines with `timelen` counting up (a box's
 * heartbeat during calls); `changing` rotates every line through idle / ringing / dialing / talking.
 */
function statusBodies(kind: Scenario): string[] {
  const bodies: string[] = []
  for (let v = 0; v < 16; v++) {
    const channels = Array.from({ length: CHANNELS }, (_, i) => {
      const state = kind === 'changing' ? [1, 2, 4, 1, 3, 4][(v + i) % 6]! : i < 4 ? 4 : 1
      const busy = state !== 1
      const timelen = kind === 'steady' ? 30 + i : kind === 'ticking' ? 30 + i + v * 5 : v
      return {
        ch: String(i + 1),
        state: String(state),
        phone: busy ? `1380013${String((kind === 'changing' ? v * 10 : 0) + i).padStart(4, '0')}` : '',
        timelen: busy ? String(timelen) : '0',
        peer: busy ? (state === 3 ? '1' : '2') : '',
        serial: '1',
      }
    })
    const status = { diskUsagePercent: '5', diskSize: '29510', diskSurplusSize: '28034', diskStatus: 0, ip: '192.168.1.20', channels }
    bodies.push(new URLSearchParams({ cmd: 'channelstatus', satellite: MACS[0]!, time: String(Date.now()), status: JSON.stringify(status) }).toString())
  }
  return bodies
}

async function cannon(url: string, bodies: string[], seconds: number): Promise<AcResult> {
  return autocannon({
    url: url + '/upload_record',
    connections: CONNECTIONS,
    pipelining: 1,
    duration: seconds,
    requests: bodies.map((body) => ({ method: 'POST', path: '/upload_record', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })),
    // the box reads `status`: an answer that is not status 0 counts as a mismatch (same cost for both targets)
    verifyBody: (b: string) => b.includes('"status":0'),
  })
}

// ---- (a) channelstatus -------------------------------------------------------------------------

async function statusBench(dir: string): Promise<void> {
  say(
    `  channelstatus: ${CHANNELS} channels per POST, ~${Buffer.byteLength(statusBodies('changing')[0]!)} bytes per body, ${CONNECTIONS} connections, ${DURATION} s per run after 2 s warm-up, 2 rounds`,
  )
  const daemon = await startDaemon(dir)
  const ceiling = await startCeiling()
  // a status post must really be accepted: check one answer before measuring
  const check = await (await fetch(daemon.ingest + '/upload_record', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: statusBodies('steady')[0] })).json()
  if ((check as { status?: unknown }).status !== 0) throw new Error(`the daemon refused the status post: ${JSON.stringify(check)}`)
  const rates = new Map<string, number[]>()
  const p99 = new Map<string, number>()
  // CPU time of the target process per answered POST: less swayed than req/s by other work on a shared machine
  const cpuPer = new Map<string, number[]>()
  for (let round = 0; round < 2; round++) {
    for (const kind of Object.keys(SCENARIOS) as Scenario[]) {
      const bodies = statusBodies(kind)
      for (const [name, url] of [
        ['ceiling', ceiling.url],
        ['daemon', daemon.ingest],
      ] as const) {
        await cannon(url, bodies, 2)
        const pid = (name === 'ceiling' ? ceiling.child : daemon.child).pid!
        const cpu0 = cpuSeconds(pid)
        const r = await cannon(url, bodies, DURATION)
        const cpu = cpuSeconds(pid) - cpu0
        if (r.errors || r.non2xx || r.timeouts || r.mismatches) say(`  ${name} ${kind}: ${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts, ${r.mismatches} answers without status 0`)
        const key = `${name} ${kind}`
        rates.set(key, [...(rates.get(key) ?? []), r.requests.total / r.duration])
        cpuPer.set(key, [...(cpuPer.get(key) ?? []), (cpu / Math.max(1, r.requests.total)) * 1e6])
        p99.set(key, r.latency.p99)
      }
    }
  }
  const metrics = await (await fetch(daemon.api + '/metrics')).text()
  const events = /telbridge_events_published_total\{type="channel"\} (\d+)/.exec(metrics)?.[1]
  await stopChild(daemon.child)
  await stopChild(ceiling.child)
  for (const kind of Object.keys(SCENARIOS) as Scenario[]) {
    const c = rates.get(`ceiling ${kind}`)!
    const d = rates.get(`daemon ${kind}`)!
    const bc = Math.max(...c)
    const bd = Math.max(...d)
    say(`  ${kind}: ${SCENARIOS[kind]}`)
    report({ bench: BENCH, metric: `status POST/s, bare fastify, ${kind}`, value: bc, unit: 'req/s', note: `runs ${c.map(int).join(', ')}; p99 ${p99.get(`ceiling ${kind}`)} ms` })
    report({ bench: BENCH, metric: `status POST/s, telbridge, ${kind}`, value: bd, unit: 'req/s', note: `runs ${d.map(int).join(', ')}; p99 ${p99.get(`daemon ${kind}`)} ms` })
    report({ bench: BENCH, metric: `telbridge / bare fastify, ${kind}`, value: (bd / bc) * 100, unit: '%', aim: { op: '>=', value: 70 }, note: 'best run of each' })
    const cc = Math.min(...cpuPer.get(`ceiling ${kind}`)!)
    const cd = Math.min(...cpuPer.get(`daemon ${kind}`)!)
    report({
      bench: BENCH,
      metric: `CPU per POST, bare fastify / telbridge, ${kind}`,
      value: (cc / cd) * 100,
      unit: '%',
      note: `${fixed(cc, 1)} / ${fixed(cd, 1)} µs (least of each; the target process, user + system)`,
    })
  }
  say(`  (the daemon published ${events ?? '?'} channel events in all)`)
}

// ---- (b) uploads -------------------------------------------------------------------------------

/** user + system CPU seconds of a process so far (/proc/<pid>/stat fields 14 and 15, in clock ticks) */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / CLK_TCK
}

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
  return Number(r.stdout?.trim()) || 100
})()

function vmField(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : NaN
}

function uploadOne(ingest: string, agent: Agent, wav: Buffer, md5: string, callid: string): Promise<void> {
  const boundary = '----telbridgebench' + randomBytes(8).toString('hex')
  const now = Math.floor(Date.now() / 1000)
  const fields: [string, string][] = [
    ['cmd', 'upload'],
    ['satellite', MACS[0]!],
    ['channel', '1'],
    ['start_time_secs', String(now - 330)],
    ['start_time_hangup', String(now)],
    ['direction', 'in'],
    ['callid_dialed', '13800138000'],
    ['duration_secs', '312'],
    ['id', callid.slice(-6)],
    ['recorded', '1'],
    ['callid', callid],
    ['fileMd5', md5],
  ]
  let head = ''
  for (const [k, v] of fields) head += `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`
  head += `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${callid}.wav"\r\nContent-Type: audio/wav\r\n\r\n`
  const pre = Buffer.from(head)
  const post = Buffer.from(`\r\n--${boundary}--\r\n`)
  const u = new URL(ingest + '/upload_record')
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        agent,
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': pre.length + wav.length + post.length },
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (s: string) => (body += s))
        res.on('end', () => {
          try {
            const a = JSON.parse(body) as { status?: unknown; callid?: unknown }
            if (a.status === 0 && a.callid === callid) resolve()
            else reject(new Error(`upload ${callid} answered ${res.statusCode} ${body.slice(0, 200)}`))
          } catch {
            reject(new Error(`upload ${callid} answered ${res.statusCode} ${body.slice(0, 200)}`))
          }
        })
      },
    )
    req.on('error', reject)
    req.write(pre)
    req.write(wav)
    req.end(post)
  })
}

function timed(fn: () => void): number {
  const t0 = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - t0) / 1e9
}

function sync(): void {
  spawnSync('sync')
}

async function uploadBench(dir: string): Promise<void> {
  const wav = makeWavOfSize(UPLOAD_BYTES, { kind: 'noise', seed: 3 })
  const md5 = createHash('md5').update(wav).digest('hex')
  const total = UPLOADS * wav.length
  say(
    `  uploads: ${UPLOADS} concurrent × ${fixed(mb(wav.length), 1)} MB WAV (8 kHz 16-bit mono, ${int(wav.length / 16000)} s of audio), ${fixed(mb(total), 1)} MB in all, one connection each; data in ${dir}`,
  )

  // dd baselines first, on the same filesystem, with the same bytes
  const src = join(dir, 'dd-src.bin')
  const fd = openSync(src, 'w')
  for (let i = 0; i < UPLOADS; i++) writeSync(fd, wav)
  closeSync(fd)
  sync()
  const ddOne = timed(() => {
    const r = spawnSync('dd', [`if=${src}`, `of=${join(dir, 'dd-out.bin')}`, 'bs=1M', 'conv=fsync'], { stdio: 'ignore' })
    if (r.status !== 0) throw new Error(`dd failed (${r.status})`)
  })
  rmSync(join(dir, 'dd-out.bin'))
  const one = join(dir, 'dd-one.wav')
  writeFileSync(one, wav)
  sync()
  const ddMany = await (async () => {
    const t0 = process.hrtime.bigint()
    await Promise.all(
      Array.from(
        { length: UPLOADS },
        (_, i) =>
          new Promise<void>((resolve, reject) => {
            const c = spawn('dd', [`if=${one}`, `of=${join(dir, `dd-${i}.wav`)}`, 'bs=1M', 'conv=fsync'], { stdio: 'ignore' })
            c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`dd exited ${code}`))))
          }),
      ),
    )
    return Number(process.hrtime.bigint() - t0) / 1e9
  })()
  for (let i = 0; i < UPLOADS; i++) rmSync(join(dir, `dd-${i}.wav`))
  rmSync(src)
  rmSync(one)
  sync()

  const daemon = await startDaemon(dir)
  const pid = daemon.child.pid!
  const rssBefore = vmField(pid, 'VmRSS')
  let rssPeakSampled = rssBefore
  const sampler = setInterval(() => {
    try {
      rssPeakSampled = Math.max(rssPeakSampled, vmField(pid, 'VmRSS'))
    } catch {
      // the daemon exited: the samples so far stand
    }
  }, 20)
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity })
  const base = BigInt(Date.now()) * 1_000_000n
  const cpu0 = cpuSeconds(pid)
  const t0 = process.hrtime.bigint()
  const results = await Promise.allSettled(Array.from({ length: UPLOADS }, (_, i) => uploadOne(daemon.ingest, agent, wav, md5, String(base + BigInt(i)))))
  const secs = Number(process.hrtime.bigint() - t0) / 1e9
  clearInterval(sampler)
  const cpu = cpuSeconds(pid) - cpu0
  const hwm = vmField(pid, 'VmHWM')
  await stopChild(daemon.child)
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed.length) say(`  ${failed.length} upload(s) failed; first: ${String(failed[0]!.reason)}`)
  // what is on disk: every accepted recording, whole
  let files = 0
  let bytes = 0
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.name.endsWith('.wav')) {
        files++
        bytes += statSync(p).size
      }
    }
  }
  walk(join(dir, 'data', 'recordings'))
  const ok = UPLOADS - failed.length
  report({
    bench: BENCH,
    metric: `upload ${UPLOADS} × 5 MB WAV, concurrent`,
    value: mb(ok * wav.length) / secs,
    unit: 'MB/s',
    note: `${fixed(secs, 2)} s; ${ok}/${UPLOADS} stored; on disk ${files} files, ${fixed(mb(bytes), 1)} MB; daemon CPU ${fixed(cpu, 2)} s (${int((cpu / secs) * 100)}% of one core)`,
  })
  report({ bench: BENCH, metric: `dd, one ${fixed(mb(total), 0)} MB file, conv=fsync`, value: mb(total) / ddOne, unit: 'MB/s', note: `${fixed(ddOne, 2)} s` })
  report({ bench: BENCH, metric: `dd × ${UPLOADS} parallel, 5 MB each, conv=fsync`, value: mb(total) / ddMany, unit: 'MB/s', note: `${fixed(ddMany, 2)} s` })
  report({ bench: BENCH, metric: 'upload / single dd', value: (ddOne / secs) * 100, unit: '%' })
  report({
    bench: BENCH,
    metric: 'daemon peak RSS during uploads (VmHWM)',
    value: mb(hwm),
    unit: 'MB',
    aim: { op: '<', value: 200 },
    note: `${fixed(mb(rssBefore), 1)} MB before; sampled peak ${fixed(mb(rssPeakSampled), 1)} MB`,
  })
}

const dir = mkdtempSync(join(tmpdir(), 'telbridge-bench-800hu-'))
try {
  say(`  ${load()} at the start`)
  await statusBench(dir)
  // BENCH_800HU_UPLOADS=0: the status posts only (a short run while working on that path)
  if (UPLOADS > 0) await uploadBench(dir)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
finish()
