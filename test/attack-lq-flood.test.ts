import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { LqConnectDecoder, encodeRegistration, encodeTryRep, encodeTryReq, type Frame } from '../protocols/lq-connect/index.js'
import { Metrics } from '../daemon/core/metrics.js'
import { PeerWriter, peerCutCounter } from '../daemon/core/peer-writer.js'
import { rig } from './helpers/daemon.js'
import { until } from './helpers/sse.js'

const ROOT = join(import.meta.dirname, '..')

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return (server.address() as { port: number }).port
}

async function freePort(): Promise<number> {
  const s = createServer()
  const p = await listen(s)
  await new Promise<void>((r) => s.close(() => r()))
  return p
}

/** A connected pair on 127.0.0.1: [ours, theirs]. */
async function socketPair(t: Test): Promise<[Socket, Socket]> {
  const server = createServer()
  const port = await listen(server)
  const theirs = new Promise<Socket>((r) => server.once('connection', r))
  const ours = connect(port, '127.0.0.1')
  await new Promise<void>((r) => ours.once('connect', () => r()))
  const peer = await theirs
  server.close()
  t.teardown(() => {
    ours.destroy()
    peer.destroy()
  })
  ours.on('error', () => {})
  peer.on('error', () => {})
  return [ours, peer]
}

/** Like helpers/sse until(), for an async condition. */
async function untilAsync(fn: () => Promise<unknown>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
}

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024

// ---------------------------------------------------------------------------------------------------
t.test('PeerWriter on a real socket pair: pause on a full buffer, resume on drain, cut past the bound, log once', async (t) => {
  const metrics = new Metrics()
  const cuts = peerCutCounter(metrics)
  t.equal(peerCutCounter(metrics), cuts, 'one counter per registry')
  const logs: { obj: any; msg: string }[] = []
  const events: string[] = []
  const [ours, peer] = await socketPair(t)
  peer.pause() // the peer does not read: its receive buffer fills, then our send buffer, then our queue
  let cutWith: [string, number] | null = null
  const w = new PeerWriter(ours, {
    component: 'test',
    peer: 'peer:1',
    log: { warn: (obj, msg) => logs.push({ obj, msg }) },
    cuts,
    maxQueuedBytes: 256 * 1024,
    onPause: () => events.push('pause'),
    onResume: () => events.push('resume'),
    onCut: (reason, queued) => (cutWith = [reason, queued]),
  })
  const chunk = Buffer.alloc(16 * 1024, 0x41)
  let sent = 0
  while (w.write(chunk)) {
    sent += chunk.length
    if (sent > 256 * 1024 * 1024) throw new Error('the kernel took 256 MB without backpressure')
  }
  t.ok(w.paused, `paused after ${sent} bytes were taken by the kernel`)
  t.ok(ours.isPaused(), 'reading from the peer is paused')
  t.same(events, ['pause'])
  t.ok(w.queued >= ours.writableHighWaterMark, 'queued at least the high-water mark')

  // the peer reads again: everything drains, reading resumes
  let received = 0
  const onData = (c: Buffer) => (received += c.length)
  peer.on('data', onData)
  peer.resume()
  await until(() => !w.paused, 5000, 'resumed on drain')
  t.same(events, ['pause', 'resume'])
  t.notOk(ours.isPaused(), 'reading resumed')
  t.equal(w.queued, 0)

  // the peer stops reading again; we keep writing small frames until the bound cuts it
  peer.off('data', onData)
  peer.pause()
  await sleep(50)
  const small = Buffer.alloc(1024, 0x42)
  let writes = 0
  while (!w.cut && writes < 1_000_000) {
    w.write(small)
    writes++
  }
  t.equal(w.cut, 'queued-bytes', 'cut for the bytes queued')
  t.ok(ours.destroyed, 'socket destroyed')
  t.ok(cutWith && cutWith[0] === 'queued-bytes' && cutWith[1] <= 256 * 1024 && cutWith[1] > 256 * 1024 - small.length, `onCut with the queued bytes (${cutWith?.[1]})`)
  t.notOk(w.write(small), 'later writes are dropped')
  t.notOk(w.write(small))
  t.equal(logs.length, 1, 'logged once')
  t.match(logs[0], { obj: { peer: 'peer:1', reason: 'queued-bytes', maxQueuedBytes: 256 * 1024 } })
  t.ok(logs[0]!.obj.queued > 0, 'the log says how many bytes were queued')
  t.equal(await cuts.get({ component: 'test', reason: 'queued-bytes' }), 1, 'counted once')
  t.match(await metrics.render(), /telbridge_peer_cut_total\{component="test",reason="queued-bytes"\} 1/)
})

t.test('PeerWriter: a paused peer that takes no byte for stallSeconds is cut; a slow one that does is not', async (t) => {
  const metrics = new Metrics()
  const cuts = peerCutCounter(metrics)
  const fill = (w: PeerWriter) => {
    const chunk = Buffer.alloc(16 * 1024)
    for (let i = 0; i < 16_384 && w.write(chunk); i++);
    t.ok(w.paused, 'paused')
  }
  const log = { warn: () => {} }

  const [a, aPeer] = await socketPair(t)
  aPeer.pause()
  const stalled = new PeerWriter(a, { component: 'test', peer: 'a', log, cuts, stallSeconds: 0.3, maxQueuedBytes: 1 << 20 })
  fill(stalled)
  const t0 = Date.now()
  await until(() => stalled.cut !== null, 3000, 'stall cut')
  t.equal(stalled.cut, 'stalled')
  t.ok(Date.now() - t0 >= 250, `cut after the stall time (${Date.now() - t0} ms)`)

  // a slow reader: reads in bursts every 100 ms, so it takes bytes within every stall window
  const [b, bPeer] = await socketPair(t)
  bPeer.pause()
  const slow = new PeerWriter(b, { component: 'test', peer: 'b', log, cuts, stallSeconds: 0.3, maxQueuedBytes: 1 << 20 })
  fill(slow)
  let got = 0
  bPeer.on('data', (c: Buffer) => (got += c.length))
  bPeer.pause()
  const burst = setInterval(() => {
    bPeer.resume()
    setTimeout(() => bPeer.pause(), 5)
  }, 100)
  t.teardown(() => clearInterval(burst))
  await until(() => !slow.paused, 10_000, 'slow reader drained')
  t.equal(slow.cut, null, 'a slow reader is not cut')
  t.ok(got > 0)
  t.equal(await cuts.get({ component: 'test', reason: 'stalled' }), 1, 'one stall cut counted')
})

// ---------------------------------------------------------------------------------------------------
t.test('a hostile LQ server flooding TRY_REQ and never reading: bounded RSS, live health, cut, reconnect', async (t) => {
  const MAX_FRAMES = 4_000_000
  const MAX_MS = 20_000
  const burst = Buffer.concat(Array.from({ length: 9362 }, () => encodeTryReq())) // 65,534 bytes
  const frameBytes = encodeTryReq().length
  // Every connection is flooded until 4,000,000 frames (28 MB) or 20 s in all; later ones behave.
  let connections = 0
  let floodConnections = 0
  let cutsSeen = 0
  let frames = 0
  let floodMs = 0
  let floodT0 = 0
  let go!: () => void
  const started = new Promise<void>((r) => (go = r))
  let floodDone!: () => void
  const floodFinished = new Promise<void>((r) => (floodDone = r))
  const floodOver = () => frames >= MAX_FRAMES || (floodT0 > 0 && Date.now() - floodT0 >= MAX_MS)
  const wellBehaved = new Set<Socket>()
  const hostile = createServer(async (s) => {
    s.on('error', () => {})
    connections++
    if (floodOver()) {
      // after the flood the server behaves: reads, and sends TRY_REQ now and then
      wellBehaved.add(s)
      s.resume()
      const hb = setInterval(() => s.write(encodeTryReq()), 200)
      s.on('close', () => clearInterval(hb))
      s.write(encodeTryReq())
      return
    }
    floodConnections++
    s.pause() // never read: the TRY_REPs pile up on the daemon's side
    let closed = false
    s.on('close', () => (closed = true))
    s.write(encodeTryReq()) // one frame so the link counts as working
    await started
    floodT0 ||= Date.now()
    while (!closed && !floodOver()) {
      frames += burst.length / frameBytes
      if (!s.write(burst)) {
        await new Promise<void>((r) => {
          const done = () => {
            s.off('drain', done)
            s.off('close', done)
            r()
          }
          s.on('drain', done)
          s.on('close', done)
          setTimeout(done, 250)
        })
      }
    }
    if (closed) cutsSeen++
    floodMs = Date.now() - floodT0
    s.destroy()
    if (floodOver()) floodDone()
  })
  const lqPort = await listen(hostile)
  t.teardown(() => {
    for (const s of wellBehaved) s.destroy()
    hostile.close()
  })
  const apiPort = await freePort()
  const dir = t.testdir({
    'c.json': JSON.stringify({
      api: { port: apiPort },
      log: { level: 'warn' },
      sources: [{ id: 'lq1', type: 'lq-socket', host: '127.0.0.1', port: lqPort, oper: '801', expireSeconds: 2, reconnectSeconds: 1 }],
    }),
  })
  // the daemon as a child process, so its RSS is its own; TypeScript through tsx, as tap runs it
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'daemon', 'cli.ts'), 'run', '--config', join(dir, 'c.json')], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  t.teardown(() => child.kill('SIGKILL'))
  const api = `http://127.0.0.1:${apiPort}`
  const sourceStatus = async () => {
    try {
      return ((await (await fetch(`${api}/v1/sources/lq1`)).json()) as { status: string }).status
    } catch {
      return 'unreachable'
    }
  }
  await untilAsync(async () => (await sourceStatus()) === 'connected', 15_000, 'daemon up and connected')
  for (let i = 0; i < 5; i++) await fetch(`${api}/v1/health`).then((r) => r.text()) // warm the route
  await sleep(300)
  const rss0 = rssOf(child.pid!)

  go()
  let maxLatency = 0
  let maxRss = rss0
  let polls = 0
  let pollsFailed = 0
  let flooding = true
  const lat: number[] = []
  void floodFinished.then(() => (flooding = false))
  while (flooding) {
    const t0 = performance.now()
    try {
      const res = await fetch(`${api}/v1/health`, { signal: AbortSignal.timeout(5000) })
      await res.text()
      if (!res.ok) pollsFailed++
    } catch {
      pollsFailed++
    }
    maxLatency = Math.max(maxLatency, performance.now() - t0)
    lat.push(Math.round(performance.now() - t0))
    polls++
    maxRss = Math.max(maxRss, rssOf(child.pid!))
    await sleep(100)
  }
  t.comment(`/v1/health latencies (ms): ${lat.join(' ')}`)
  const growth = maxRss - rss0
  t.comment(
    `flood: ${frames} TRY_REQ frames (${((frames * frameBytes) / 1e6).toFixed(1)} MB) over ${floodConnections} connections in ${floodMs} ms; RSS ${(rss0 / 1e6).toFixed(1)} MB → max ${(maxRss / 1e6).toFixed(1)} MB (+${(growth / 1e6).toFixed(1)} MB); /v1/health max ${maxLatency.toFixed(0)} ms over ${polls} polls`,
  )
  t.ok(cutsSeen >= 1, `the daemon cut the flooding connections (${cutsSeen} of ${floodConnections})`)
  t.ok(growth < 30e6, `RSS growth ${(growth / 1e6).toFixed(1)} MB < 30 MB`)
  t.equal(pollsFailed, 0, '/v1/health always answered')
  t.ok(maxLatency < 200, `/v1/health max latency ${maxLatency.toFixed(0)} ms < 200 ms`)

  const m = await (await fetch(`${api}/metrics`)).text()
  const cutLines = [...m.matchAll(/telbridge_peer_cut_total\{component="lq-socket",reason="([a-z-]+)"\} (\d+)/g)]
  const counted = cutLines.reduce((n, l) => n + Number(l[2]), 0)
  t.comment(`cuts counted: ${cutLines.map((l) => `${l[1]}=${l[2]}`).join(', ')}`)
  t.equal(counted, cutsSeen, 'every cut is counted')
  const warns = out.split('\n').filter((l) => l.includes('peer does not read'))
  t.equal(warns.length, cutsSeen, 'one warn line per cut')
  t.match(JSON.parse(warns[0] ?? '{}'), { level: 40, peer: `127.0.0.1:${lqPort}`, queued: Number })

  await until(() => connections > floodConnections, 10_000, 'the source reconnects to the behaving server')
  await untilAsync(async () => (await sourceStatus()) === 'connected', 10_000, 'connected again')
  const settled = connections
  await sleep(2500) // past expireSeconds: the well-behaved link stays up
  t.equal(await sourceStatus(), 'connected', 'the reconnected link stays up')
  t.equal(connections, settled, 'no further reconnects')
})

// ---------------------------------------------------------------------------------------------------
/** A legacy desktop client that registers and answers TRY_REQ; or, mute, never reads at all. */
async function legacyClient(port: number, oper: string, opts: { mute?: boolean } = {}) {
  const socket: Socket = connect(port, '127.0.0.1')
  await new Promise<void>((res) => socket.once('connect', () => res()))
  const pops: string[] = []
  let closed = false
  socket.on('close', () => (closed = true))
  socket.on('error', () => {})
  socket.write(encodeRegistration({ template: 'oper={oper},ch={ch};', framing: 'length', oper, ch: '-1' }))
  if (opts.mute) socket.pause()
  else {
    const dec = new LqConnectDecoder()
    socket.on('data', (c) =>
      dec.write(
        c,
        (f: Frame) => {
          if (f.type === 'handshake') socket.write(encodeTryRep())
          else pops.push(f.payload.toString('latin1'))
        },
        () => {},
      ),
    )
  }
  return {
    socket,
    pops,
    get closed() {
      return closed
    },
  }
}

t.test('a legacy client that never reads is cut at the bound and counted; the others keep getting pops', async (t) => {
  const r = await rig({ config: { lqServer: { port: 0, forward: 'all', checkSeconds: 0.05, expireSeconds: 10 } } })
  t.teardown(() => r.stop())
  const port = r.daemon.lqServer!.port
  const good = await legacyClient(port, '801')
  const mute = await legacyClient(port, '802', { mute: true })
  t.teardown(() => [good, mute].forEach((c) => c.socket.destroy()))
  await until(() => r.daemon.lqServer!.list().filter((c) => c.agent).length === 2, 3000, 'both registered')

  const pad = 'x'.repeat(160)
  const pop = (n: number) => Buffer.from(`H=t1v5,ch=${n % 8},ph=1380000${String(n).padStart(4, '0')},ty=1,tm=081123101500,op=801,sn=${n},so=0,mb=0,da=k:${pad},dm=0;`)
  let sent = 0
  const t0 = Date.now()
  // pops straight into the hub, in batches; bounded in count and time
  const cuts = peerCutCounter(r.daemon.metrics)
  const cut = async () => (await cuts.get({ component: 'lq-server', reason: 'queued-bytes' })) > 0
  while (!(await cut()) && sent < 400_000 && Date.now() - t0 < 20_000) {
    for (let i = 0; i < 500; i++) r.daemon.pops.receive('lq1', pop(sent++))
    await new Promise((res) => setImmediate(res))
  }
  t.comment(`mute client cut after ${sent} pops (${((sent * pop(0).length) / 1e6).toFixed(1)} MB) in ${Date.now() - t0} ms`)
  t.ok(await cut(), 'the client that never reads was cut')
  // it learns when it next reads: the connection was reset
  mute.socket.resume()
  await until(() => mute.closed, 3000, 'mute client sees the reset')
  const m = await (await fetch(`${r.url}/metrics`)).text()
  t.match(m, /telbridge_peer_cut_total\{component="lq-server",reason="queued-bytes"\} 1/, 'counted, at the byte bound')
  t.notOk(good.closed, 'the reading client stays')
  const last = `H=t1v5,ch=1,ph=13800000000,ty=1,tm=081123101500,op=801,sn=last,so=0,mb=0,da=k:v,dm=0;`
  r.daemon.pops.receive('lq1', Buffer.from(last))
  await until(() => good.pops.length === sent + 1, 10_000, 'the reading client got every pop')
  t.equal(good.pops.at(-1), last)
  await until(() => r.daemon.lqServer!.list().length === 1, 2000, 'only the reading client is listed')
})
