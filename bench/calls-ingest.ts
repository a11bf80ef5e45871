/**
 * Issue 13: sustained call ingest — finished calls/s into the call log through the tracker, with the
 * event stream read by a client and a telbridge-format webhook (call.ended: one notification per
 * call, the CRM call-log hook) delivering to a local receiver.
 *
 * The daemon runs in this process (started: API, SQLite call log, webhook outbox); the receiver and
 * the SSE client run in a child process (a CRM and a browser are elsewhere: they must not share the
 * daemon's event loop). Calls are line-state changes on the daemon's ChannelTable, as every source
 * makes them: each of 1,000 channels steps idle → ringing → talking → idle, one step per channel
 * per turn of the loop, so a call takes three ticks (call.started one tick after the ring, then
 * call.ended after the commit of the tick it ended in).
 *
 *  - paced: 2,000 calls/s (a timer every 10 ms starts what is due), 5 s: committed calls/s, the
 *    timer's lag (the event loop's health), whether the outbox kept up
 *  - max: as fast as the loop turns (B calls started per turn), 4 s: committed calls/s
 *  - baseline in the same run: a bare better-sqlite3 loop inserting the same rows (the same
 *    columns and values a finished line call has) into the same schema (openDb, migration 1, WAL,
 *    synchronous=NORMAL), in transactions of the size the tracker's flushes had in the max run
 *    (the tracker commits once per tick: every call finished in that tick, one transaction)
 *  - outbox alone (DiskQueue.append, one file per notification, fsync'd, one directory fsync per
 *    batch): a callJson-sized telbridge notification at 2,000/s in batches of 20 (what writeLoop
 *    gets at that rate), and the most it takes unpaced: wall time and process CPU (fs threads included) per notification
 *
 * Env: BENCH_INGEST_SECONDS (paced run length, default 5).
 */
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { openDb } from '../daemon/core/db.js'
import { callJson, type Call } from '../daemon/core/calls/types.js'
import { DiskQueue } from '../daemon/webhooks/queue.js'
import { eventNotification } from '../daemon/webhooks/notify.js'
import { finish, fixed, int, load, median, pct, report, say } from './common.js'

const BENCH = 'calls-ingest'
const CHANNELS = 1000
const PACED_RATE = 2000
const PACED_S = Number(process.env.BENCH_INGEST_SECONDS ?? 5)
const MAX_S = 4
const MAX_PER_TURN = 100

// ---- the child: receiver + SSE reader ---------------------------------------------------------------
if (process.argv[2] === 'child') {
  let hooks = 0
  let sseBytes = 0
  let sseEvents = 0
  const server = createServer((req, res) => {
    req.on('data', () => {})
    req.on('end', () => {
      hooks++
      res.end()
    })
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }))
  process.on('message', (m: { sse?: string; report?: boolean }) => {
    if (m.sse) {
      void fetch(m.sse).then(async (r) => {
        const reader = r.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          sseBytes += value.length
          for (const b of value) if (b === 0x0a) sseEvents++ // lines; divided by 4 below (id, event, data, blank)
        }
      })
      process.send!({ sseOpen: true })
    }
    if (m.report) process.send!({ hooks, sseBytes, sseEvents: Math.floor(sseEvents / 4) })
  })
} else {
  await main()
}

function ask<T>(child: ReturnType<typeof fork>, msg: object, key: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: Record<string, unknown>) => {
      if (key in m) {
        child.off('message', on)
        resolve(m as T)
      }
    }
    child.on('message', on)
    if (Object.keys(msg).length) child.send(msg)
  })
}

async function main(): Promise<void> {
  say(`calls-ingest: ${CHANNELS} channels, telbridge-format webhook (call.ended) to a receiver in a child process, one SSE client reading; ${load()}`)
  const child = fork(fileURLToPath(import.meta.url), ['child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const { port } = await ask<{ port: number }>(child, {}, 'port')
  const dir = mkdtempSync(join(tmpdir(), 'tb-bench-ingest-'))
  try {
    const config = parseConfig({
      api: { port: 0, eventBuffer: 10000 },
      dataDir: join(dir, 'data'),
      webhooks: [{ url: `http://127.0.0.1:${port}/hook`, id: 'bench', format: 'telbridge', events: ['call.ended'], retryBaseSeconds: 0.05, retryMaxSeconds: 0.5 }],
    })
    const d = new Daemon(config, { log: pino({ level: 'silent' }) })
    const { apiUrl } = await d.start()
    await ask(child, { sse: `${apiUrl}/v1/events` }, 'sseOpen')
    await new Promise((r) => setTimeout(r, 200))

    // the tracker's commit batches, observed
    const log = d.calls.callLog!
    const batches: number[] = []
    const write = log.write.bind(log)
    log.write = (calls) => {
      batches.push(calls.length)
      write(calls)
    }
    let ended = 0
    d.bus.subscribe((e) => {
      if (e.type === 'call.ended') ended++
    })

    // channel i steps idle → ringing → talking → idle; `step` advances one channel
    const phase = new Uint8Array(CHANNELS)
    let seq = 0
    let next = 0
    const step = (i: number) => {
      const ch = String(i + 1)
      const src = `bench-${i % 10}`
      const p = phase[i]!
      if (p === 0) d.table.update(src, ch, { state: 'ringing', phone: `138${String(seq++ % 1e8).padStart(8, '0')}`, direction: 'inbound', agent: String(800 + (i % 200)) })
      else if (p === 1) d.table.update(src, ch, { state: 'talking' })
      else d.table.update(src, ch, { state: 'idle', phone: null, direction: null })
      phase[i] = (p + 1) % 3
    }
    /** `n` steps, on the next `n` channels round-robin (three steps finish a call; a channel's steps are a round of 1,000 apart) */
    const steps = (n: number) => {
      for (let k = 0; k < n; k++) {
        step(next)
        next = (next + 1) % CHANNELS
      }
    }
    const tick = () => new Promise((r) => setImmediate(r))

    // ---- paced ----
    const m0 = await ask<{ hooks: number }>(child, { report: true }, 'hooks')
    const q = d.webhooks.status()[0]!
    const lags: number[] = []
    const ended0 = ended
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    let done = 0
    await new Promise<void>((resolve) => {
      let last = performance.now()
      const timer = setInterval(() => {
        const now = performance.now()
        lags.push(now - last - 10)
        last = now
        // three steps per call: the steps due by now at PACED_RATE calls/s
        const due = Math.floor(((now - t0) / 1000) * PACED_RATE * 3)
        steps(due - done)
        done = due
        if (now - t0 >= PACED_S * 1000) {
          clearInterval(timer)
          resolve()
        }
      }, 10)
    })
    const pacedWall = (performance.now() - t0) / 1000
    await tick()
    await tick()
    const pacedCalls = ended - ended0
    const pc = process.cpuUsage(c0)
    const drainT0 = performance.now()
    let drained = true
    try {
      await d.webhooks.drained(60_000)
    } catch {
      drained = false
    }
    const drainS = (performance.now() - drainT0) / 1000
    const m1 = await ask<{ hooks: number; sseBytes: number; sseEvents: number }>(child, { report: true }, 'hooks')
    const st = d.webhooks.status()[0]!
    report({
      bench: BENCH,
      metric: 'paced 2,000/s: finished calls/s committed',
      value: pacedCalls / pacedWall,
      unit: 'calls/s',
      aim: { op: '>=', value: 2000 },
      note: `${int(pacedCalls)} calls in ${fixed(pacedWall, 2)} s`,
    })
    report({ bench: BENCH, metric: 'paced: timer lag p50', value: median(lags), unit: 'ms' })
    report({ bench: BENCH, metric: 'paced: timer lag p99', value: pct(lags, 99), unit: 'ms', note: 'a 10 ms timer: how late it fired' })
    report({ bench: BENCH, metric: 'paced: CPU of the daemon process', value: ((pc.user + pc.system) / 1e6 / pacedWall) * 100, unit: '% of a core' })
    report({
      bench: BENCH,
      metric: 'paced: webhook notifications delivered',
      value: m1.hooks - m0.hooks,
      unit: 'requests',
      note: `${drained ? `all delivered ${fixed(drainS, 2)} s after the last call` : `NOT drained within 60 s`}; backlog ${st.backlog} (was ${q.backlog}); dropped ${(await d.metrics.render()).match(/telbridge_webhook_dropped_total\{[^}]*\} (\d+)/)?.[1] ?? 0}`,
    })
    report({ bench: BENCH, metric: 'paced: SSE client read', value: m1.sseEvents, unit: 'events', note: `${fixed(m1.sseBytes / 1e6, 1)} MB` })

    // ---- max ----
    batches.length = 0
    const ended1 = ended
    const t1 = performance.now()
    const c1 = process.cpuUsage()
    while (performance.now() - t1 < MAX_S * 1000) {
      steps(MAX_PER_TURN * 3)
      await tick()
    }
    await tick()
    await tick()
    const maxWall = (performance.now() - t1) / 1000
    const maxCalls = ended - ended1
    const mc = process.cpuUsage(c1)
    const batch = Math.max(1, Math.round(median(batches)))
    report({
      bench: BENCH,
      metric: 'max: finished calls/s committed',
      value: maxCalls / maxWall,
      unit: 'calls/s',
      aim: { op: '>=', value: 2000 },
      note: `${int(maxCalls)} calls; commits of median ${batch} calls`,
    })
    report({ bench: BENCH, metric: 'max: CPU of the daemon process', value: ((mc.user + mc.system) / 1e6 / maxWall) * 100, unit: '% of a core' })
    const ingestUs = (mc.user + mc.system) / maxCalls
    report({ bench: BENCH, metric: 'max: daemon CPU per finished call', value: ingestUs, unit: 'µs', note: 'table, tracker, commit, events, SSE write, outbox, HTTP delivery' })
    const backlog = d.webhooks.status()[0]!.backlog
    say(`  webhook backlog after the max run: ${int(backlog)} (the outbox does not slow the tracker: it writes behind)`)
    await d.stop()

    // ---- baseline: bare better-sqlite3 ----
    const bc0 = process.cpuUsage()
    const base = baseline(join(dir, 'bare'), batch, MAX_S)
    const bc = process.cpuUsage(bc0)
    const baseUs = (bc.user + bc.system) / (base * MAX_S)
    report({ bench: BENCH, metric: `baseline: bare better-sqlite3 rows/s (tx of ${batch})`, value: base, unit: 'rows/s' })
    report({ bench: BENCH, metric: 'baseline: CPU per row', value: baseUs, unit: 'µs' })
    report({ bench: BENCH, metric: 'ratio max ingest / bare insert (rate)', value: (maxCalls / maxWall / base) * 100, unit: '%', aim: { op: '>=', value: 50 } })
    report({
      bench: BENCH,
      metric: 'ratio bare CPU per row / ingest CPU per call',
      value: (baseUs / ingestUs) * 100,
      unit: '%',
      note: 'the same ratio by CPU time: independent of how much CPU a loaded machine gave each part',
    })

    // ---- the outbox alone ----
    await outbox(join(dir, 'outbox'))
  } finally {
    child.kill()
    rmSync(dir, { recursive: true, force: true })
  }
  finish()
  process.exit(0)
}

/** A finished line call as the tracker writes it (no vendor keys: line state has none). */
function sampleCall(i: number): Call {
  const t = 1_714_528_800_000 + i * 10
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    source: `bench-${i % 10}`,
    channel: String((i % CHANNELS) + 1),
    agent: String(800 + (i % 200)),
    direction: 'inbound',
    phone: `138${String(i % 1e8).padStart(8, '0')}`,
    startedMs: t,
    answeredMs: t + 2,
    endedMs: t + 4,
    ringSeconds: 0,
    talkSeconds: 0,
    disposition: 'answered',
    recordings: [],
    vendorIds: {},
    popData: null,
    memo: null,
    inputs: ['line'],
    updatedMs: t + 4,
  }
}

/** rows/s of plain INSERTs of the same rows into the same schema, `batch` per transaction. */
function baseline(dir: string, batch: number, seconds: number): number {
  const db = openDb(dir)
  const ins = db.prepare(
    'INSERT INTO calls (id, source, channel, agent, direction, phone, started_ms, answered_ms, ended_ms, ring_s, talk_s, disposition, recordings, vendor_ids, pop_data, memo, inputs, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  )
  const tx = db.transaction((cs: Call[]) => {
    for (const c of cs) {
      ins.run(
        c.id,
        c.source,
        c.channel,
        c.agent,
        c.direction,
        c.phone,
        c.startedMs,
        c.answeredMs,
        c.endedMs,
        c.ringSeconds,
        c.talkSeconds,
        c.disposition,
        null,
        null,
        null,
        c.memo,
        c.inputs.join(','),
        c.updatedMs,
      )
    }
  })
  let i = 0
  const t0 = performance.now()
  while (performance.now() - t0 < seconds * 1000) {
    const cs: Call[] = []
    for (let k = 0; k < batch; k++) cs.push(sampleCall(i++))
    tx(cs)
  }
  const rate = i / ((performance.now() - t0) / 1000)
  db.close()
  return rate
}

/** DiskQueue.append of call.ended-sized telbridge notifications: paced at 2,000/s, then unpaced. */
async function outbox(dir: string): Promise<void> {
  const silent = pino({ level: 'silent' })
  const note = (i: number) => eventNotification('call.ended', callJson(sampleCall(i)), Date.now())
  say(`  outbox alone: one notification ≈ ${JSON.stringify(note(0)).length} bytes of JSON`)
  // paced: 20 every 10 ms, appended the way writeLoop does (what arrived while the last write ran, in one batch)
  const q = new DiskQueue(join(dir, 'paced'), { maxEntries: 10_000_000, maxBytes: 64 * 1024 ** 3 }, silent)
  await q.open()
  let pending: ReturnType<typeof note>[] = []
  let writing = null as Promise<void> | null
  let written = 0
  const lat: number[] = []
  const writeLoop = async () => {
    while (pending.length) {
      const b = pending
      pending = []
      const t = performance.now()
      written += (await q.append(b)).accepted
      lat.push(performance.now() - t)
    }
    writing = null
  }
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  let made = 0
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) / 1000) * 2000)
      while (made < due) pending.push(note(made++))
      writing ??= writeLoop()
      if (performance.now() - t0 >= 3000) {
        clearInterval(timer)
        resolve()
      }
    }, 10)
  })
  const offered = made
  while (writing) await writing
  const wall = (performance.now() - t0) / 1000
  const c = process.cpuUsage(c0)
  report({
    bench: BENCH,
    metric: 'outbox at 2,000/s: notifications written/s',
    value: written / wall,
    unit: '/s',
    aim: { op: '>=', value: 2000 },
    note: `${int(written)} of ${int(offered)} offered, done ${fixed(wall - 3, 2)} s after the last`,
  })
  report({ bench: BENCH, metric: 'outbox at 2,000/s: process CPU per notification', value: ((c.user + c.system) / 1000 / written) * 1000, unit: 'µs' })
  report({
    bench: BENCH,
    metric: 'outbox at 2,000/s: batch write p50',
    value: median(lat),
    unit: 'ms',
    note: `p99 ${fixed(pct(lat, 99), 3)} ms, ${lat.length} batches (file write + fsync + rename each, one dir fsync)`,
  })
  // unpaced: batches of 100 back to back
  const q2 = new DiskQueue(join(dir, 'max'), { maxEntries: 10_000_000, maxBytes: 64 * 1024 ** 3 }, silent)
  await q2.open()
  let n = 0
  const t1 = performance.now()
  while (performance.now() - t1 < 2000) {
    const b = []
    for (let k = 0; k < 100; k++) b.push(note(n++))
    await q2.append(b)
  }
  report({ bench: BENCH, metric: 'outbox unpaced: notifications written/s', value: n / ((performance.now() - t1) / 1000), unit: '/s', note: 'batches of 100' })
}
