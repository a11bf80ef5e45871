/**
 * Memory per event-stream client.
 *
 * The daemon runs in a child process (`telbridge run`, API on a free port, one 800hu box allowed so
 * events can be made). This process opens N raw TCP connections (default 500, api.maxSseClients'
 * default) and reads whatever arrives, so nothing backs up. Two scenarios, each on a fresh daemon so
 * one's heap growth is not the other's free space:
 *
 *   baseline   N idle keep-alive connections that each did one `GET /v1/health` (what any
 *              connection costs the HTTP server)
 *   sse        N `GET /v1/events` streams, then 20 channel-status posts so every client is sent
 *              events (the daemon's real per-client path)
 *
 * Per client: (VmRSS after − VmRSS before) / N, RSS from /proc/<pid>/status after 1.5 s of quiet
 * (Linux only). RSS includes heap the GC has not returned; the difference to the baseline is what an
 * event-stream client costs over a plain connection. One more stream after N is also tried: with
 * api.maxSseClients = N it must get 503.
 *
 * Env: BENCH_SSE_CLIENTS (default 500); BENCH_SSE_NO_READ=1: clients stop reading after the
 * response head (events then pile up in socket buffers until sseMaxBacklogBytes cuts them off).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, stopChild, track } from './children.js'
import { finish, fixed, int, load, mb, report, say } from './common.js'

const BENCH = 'sse-clients'
const N = Number(process.env.BENCH_SSE_CLIENTS ?? 500)
const CLI = fileURLToPath(new URL('../daemon/cli.js', import.meta.url))
const MAC = '00:00:00:00:0c:01'
const QUIET_MS = 1500
const NO_READ = process.env.BENCH_SSE_NO_READ === '1'

function vmRss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : NaN
}

async function startDaemon(dir: string, name: string): Promise<{ child: ChildProcess; port: number; ingest: string }> {
  const [port, ingestPort] = [await freePort(), await freePort()]
  const cfg = join(dir, `${name}.json`)
  writeFileSync(
    cfg,
    JSON.stringify({
      api: { host: '127.0.0.1', port, maxSseClients: N },
      ingest: { host: '127.0.0.1', port: ingestPort },
      dataDir: join(dir, `data-${name}`),
      log: { level: 'warn' },
      boxes: { allow: [MAC] },
    }),
  )
  const child = track(spawn(process.execPath, [CLI, 'run', '--config', cfg], { stdio: ['ignore', 'ignore', 'inherit'] }))
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}`)
    try {
      await (await fetch(`http://127.0.0.1:${port}/v1/health`)).text()
      break
    } catch {
      if (i > 200) throw new Error('daemon did not start within 10 s')
      await sleep(50)
    }
  }
  return { child, port, ingest: `http://127.0.0.1:${ingestPort}` }
}

interface Conn {
  socket: Socket
  /** bytes received so far */
  got: number
  head: string
}

/** One raw HTTP/1.1 request on its own connection; resolves once the response head is in. */
function open(port: number, path: string): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const c: Conn = { socket, got: 0, head: '' }
    let resolved = false
    socket.on('data', (d: Buffer) => {
      c.got += d.length
      if (!resolved) {
        c.head += d.toString('latin1')
        if (c.head.includes('\r\n\r\n')) {
          resolved = true
          // a client that stopped reading: what it is sent piles up in the kernel, then in the daemon
          if (NO_READ) socket.pause()
          resolve(c)
        }
      }
    })
    socket.once('error', (e) => (resolved ? undefined : reject(e)))
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n`)
  })
}

async function openMany(port: number, path: string): Promise<Conn[]> {
  const out: Conn[] = []
  // 50 at a time: a burst of N connects overflows nothing, but stays a steady ramp
  for (let i = 0; i < N; i += 50) out.push(...(await Promise.all(Array.from({ length: Math.min(50, N - i) }, () => open(port, path)))))
  return out
}

async function scenario(dir: string, name: 'baseline' | 'sse'): Promise<{ before: number; after: number; perClient: number; refused?: string }> {
  const d = await startDaemon(dir, name)
  try {
    // warm: the routes compiled, the first allocations made
    for (let i = 0; i < 20; i++) await (await fetch(`http://127.0.0.1:${d.port}/v1/health`)).text()
    await sleep(QUIET_MS)
    const before = vmRss(d.child.pid!)
    const conns = await openMany(d.port, name === 'sse' ? '/v1/events' : '/v1/health')
    const bad = conns.filter((c) => !c.head.startsWith('HTTP/1.1 200'))
    if (bad.length) throw new Error(`${bad.length} of ${N} ${name} connections not answered 200: ${bad[0]!.head.split('\r\n')[0]}`)
    let refused: string | undefined
    if (name === 'sse') {
      const one = await open(d.port, '/v1/events')
      refused = one.head.split('\r\n')[0]
      one.socket.destroy()
      // events to every client: 20 status posts alternating line states
      for (let i = 0; i < 20; i++) {
        const status = JSON.stringify({ channels: [{ ch: '1', state: String(i % 2 ? 1 : 2), phone: '13800138000', timelen: '0', peer: '2', serial: '1' }] })
        await (await fetch(`${d.ingest}/upload_record`, { method: 'POST', body: new URLSearchParams({ cmd: 'channelstatus', satellite: MAC, status }) })).text()
      }
    }
    await sleep(QUIET_MS)
    const after = vmRss(d.child.pid!)
    const received = conns.reduce((n, c) => n + c.got, 0)
    say(`  ${name}: ${int(N)} connections, ${int(received)} bytes received in all`)
    for (const c of conns) c.socket.destroy()
    return { before, after, perClient: (after - before) / N, ...(refused ? { refused } : {}) }
  } finally {
    await stopChild(d.child)
  }
}

if (process.platform !== 'linux') {
  say(`${BENCH}: needs /proc (Linux) for the daemon's RSS; skipped on ${process.platform}`)
  finish()
  process.exit(0)
}
const dir = mkdtempSync(join(tmpdir(), 'tb-bench-sse-'))
try {
  say(`${BENCH}: ${N} connections per scenario, daemon in a child process; ${load()}`)
  const base = await scenario(dir, 'baseline')
  const sse = await scenario(dir, 'sse')
  report({
    bench: BENCH,
    metric: `baseline: ${N} idle keep-alive /v1/health`,
    value: mb(base.after - base.before),
    unit: 'MB',
    note: `RSS ${fixed(mb(base.before), 1)} → ${fixed(mb(base.after), 1)} MB`,
  })
  report({ bench: BENCH, metric: 'baseline per connection', value: base.perClient, unit: 'bytes' })
  report({ bench: BENCH, metric: `sse: ${N} event-stream clients`, value: mb(sse.after - sse.before), unit: 'MB', note: `RSS ${fixed(mb(sse.before), 1)} → ${fixed(mb(sse.after), 1)} MB` })
  report({ bench: BENCH, metric: 'sse per client', value: sse.perClient, unit: 'bytes', aim: { op: '<', value: 64 * 1024 } })
  report({ bench: BENCH, metric: 'sse per client over baseline', value: sse.perClient - base.perClient, unit: 'bytes' })
  say(`  client ${N + 1} with api.maxSseClients = ${N}: ${sse.refused}`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
finish()
