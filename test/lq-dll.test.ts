import t from 'tap'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import iconv from 'iconv-lite'
import { parseConfig } from '../daemon/config.js'
import type { Daemon } from '../daemon/daemon.js'
import { LqSimulator } from '../daemon/vendors/lq-socket/simulator.js'
import { buildDoubleOrSkip, writeScript } from '../native/test-double/build.js'
import { daemonRig } from './helpers/rig.js'
import { type SseReader, getJson, until } from './helpers/sse.js'

const dir = await mkdtemp(join(tmpdir(), 'tb-lqdll-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
// no compiler here: every test that needs the double skips, saying why (test/prepare.sh installs gcc, libc6-dev)
const { lib, noCompiler } = await buildDoubleOrSkip(dir)
let n = 0

interface Script {
  path: string
  /** the file whose creation opens the script's first `gate` */
  go: string
  calls(): Promise<string[]>
}

/** A script for the double; it starts with a gate so the test can listen before the pops flow. */
async function script(lines: (string | Buffer)[], opts: { gate?: boolean; state?: boolean } = {}): Promise<Script> {
  const i = n++
  const log = join(dir, `calls${i}.log`)
  const go = join(dir, `go${i}`)
  const head = [`log ${log}`, ...(opts.state ? [`state ${join(dir, `state${i}`)}`] : []), ...(opts.gate === false ? [] : [`gate ${go}`])]
  const path = await writeScript(join(dir, `script${i}.txt`), [...head, ...lines])
  return {
    path,
    go,
    calls: async () =>
      iconv
        .decode(await readFile(log).catch(() => Buffer.alloc(0)), 'gbk')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replace(/^pid=\d+ tid=\d+ /, '')),
  }
}

const open = (s: Script) => writeFile(s.go, '')

/** the pid of the process that made each LClientStart call, in order (from the double's call log) */
async function startPids(s: Script): Promise<number[]> {
  const log = await readFile(s.path.replace(/script(\d+)\.txt$/, 'calls$1.log'), 'latin1').catch(() => '')
  return [...log.matchAll(/^pid=(\d+) tid=\d+ start /gm)].map((m) => Number(m[1]))
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** until() for an async condition */
async function eventually(fn: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

async function daemonWith(sources: Record<string, unknown>[]): Promise<{ daemon: Daemon; url: string; sse: SseReader; stop(): Promise<void> }> {
  const r = await daemonRig({ timeZone: 'Asia/Shanghai', sources }, { sse: true })
  return { daemon: r.daemon, url: r.api, sse: r.sse!, stop: r.stop }
}

const dll = (id: string, s: Script, extra: Record<string, unknown> = {}) => ({ id, type: 'lq-dll', library: lib, host: s.path, oper: '801', pollMs: 10, reconnectSeconds: 0.05, ...extra })
const status = (r: { daemon: Daemon }, id: string) => r.daemon.sources.get(id)!.status
const statuses = (sse: SseReader, id: string) => sse.events.filter((e) => e.event === 'source' && (e.data as any).id === id).map((e) => (e.data as any).status)

const POPS = [
  '2,02586307627,1000,1208674344953,NA',
  'H=t1v2,ch=2,ph=86307627,id=12157703713752,tm=080711175931,dm=0;',
  'H=t1v3,ch=3,ph=86307627,id=12157703713752,tm=080711175931,op=801,sn=1234,dm=0;',
  'H=t1v4,ch=4,ph=86307627,ty=1,tm=080711175931,op=801,sn=1234,so=802,dm=0;',
  'H=t1v5,ch=7,ph=13912345678,ty=2,tm=081123101500,op=801,sn=99,so=0,mb=2001,da=城市:南京|会员等级:金卡|客户:王女士,dm=1;2;',
  'H=t1v5,ch=8,ph=13800000008,ty=5,tm=081123101501,op=801,sn=100,so=802,mb=0,da=备注:转接,dm=;',
  'H=t2,v=3,r=0,ph=13800000009,pa=801,da=满意度:5;',
  'H=t9v9,ch=1;',
]

/** a pop or channel event with everything that names the source or the moment taken out */
function comparable(e: any): unknown {
  const { eventId, source, receivedAt, channelId, id, since, updatedAt, ...rest } = e
  return { ...rest, channelId: typeof channelId === 'string' ? channelId.replace(/^[^:]+:/, '') : channelId, id: typeof id === 'string' ? id.replace(/^[^:]+:/, '') : undefined }
}

t.test('pops from the DLL reach /v1/events exactly as the socket source delivers them', { skip: noCompiler }, async (t) => {
  const sim = new LqSimulator({ port: 0, rate: 0, trySeconds: 0, agents: ['801'] })
  const port = await sim.start()
  t.teardown(() => sim.stop())
  const s = await script(POPS.map((p) => `pop ${p}`))
  const r = await daemonWith([{ id: 'sock', type: 'lq-socket', host: '127.0.0.1', port, oper: '801' }, dll('dll', s)])
  t.teardown(() => r.stop())
  await until(() => status(r, 'sock') === 'connected' && status(r, 'dll') === 'connected' && [...sim.clients].some((c) => c.registration), 10_000, 'both sources connected')
  for (const p of POPS) sim.sendPop(p)
  await open(s)
  await r.sse.count('pop', 2 * (POPS.length - 1), 10_000)
  await r.sse.count('pop.invalid', 2, 10_000)
  const of = (type: string, src: string) => r.sse.events.filter((e) => e.event === type && (e.data as any).source === src).map((e) => comparable(e.data))
  for (const type of ['pop', 'pop.invalid', 'channel']) {
    t.same(of(type, 'dll'), of(type, 'sock'), `${type} events are the same from both sources`)
  }
  t.equal(of('pop', 'dll').length, POPS.length - 1)
  t.equal(of('pop.invalid', 'dll').length, 1)
  t.ok(of('channel', 'dll').length >= 5, `channel events compared: ${of('channel', 'dll').length}`)
  const gbk = r.sse.events.find((e) => e.event === 'pop' && (e.data as any).source === 'dll' && (e.data as any).pop.channel === 7)!.data as any
  t.same(gbk.pop.data, { 城市: '南京', 会员等级: '金卡', 客户: '王女士' }, 'Chinese in da survives the DLL path')
  t.equal(gbk.channelId, 'dll:7')
  const table = await getJson(`${r.url}/v1/channels?source=dll`)
  t.same(
    table.body.channels.map((c: any) => [c.id, c.state]),
    [
      ['dll:2', 'ringing'],
      ['dll:3', 'ringing'],
      ['dll:4', 'ringing'],
      ['dll:7', 'dialing'],
      ['dll:8', 'ringing'],
    ],
  )
  const pops = await getJson(`${r.url}/v1/pops?source=dll&limit=1`)
  t.equal(pops.body.pops[0].pop.format, 't2')
  const src = (await getJson(`${r.url}/v1/sources`)).body.sources.find((x: any) => x.id === 'dll')
  t.match(src, {
    type: 'lq-dll',
    status: 'connected',
    ocxCode: 7,
    supports: ['pops'],
    detail: { libraryFormat: 'elf', libraryArch: process.arch, callingConvention: 'cdecl', demo: false, popsIn: POPS.length },
  })
  t.match((await s.calls())[0], /^start port=7628 oper=801 ch=-1 flag=0$/)
})

for (const mode of ['process', 'in-process'] as const) {
  t.test(`-201 mid-stream (restart: ${mode}): LClientStop, restart, and the following pops still arrive`, { skip: noCompiler }, async (t) => {
    const s = await script(
      ['pop H=t1v2,ch=1,ph=1,id=1,tm=081123101500,dm=0;', 'empty 3', 'code -201', 'pop H=t1v2,ch=2,ph=2,id=2,tm=081123101500,dm=0;', 'code -200', 'pop H=t1v2,ch=3,ph=3,id=3,tm=081123101500,dm=0;'],
      { state: true },
    ) // the script's cursor survives a new host process, as a server's stream would
    const r = await daemonWith([dll('dll', s, mode === 'in-process' ? { restart: mode } : {})])
    t.teardown(() => r.stop())
    await until(() => status(r, 'dll') === 'connected', 10_000, 'connected')
    await open(s)
    const pops = await r.sse.count('pop', 3, 10_000)
    t.same(
      pops.map((e) => (e.data as any).pop.channel),
      [1, 2, 3],
    )
    await until(() => statuses(r.sse, 'dll').filter((x) => x === 'connected').length === 3, 5000, 'third connect')
    // (the first status, connecting, went out before the SSE client could subscribe)
    t.same(statuses(r.sse, 'dll'), ['connected', 'reconnecting', 'connected', 'reconnecting', 'connected'], 'status events show each restart')
    const lost = r.sse.events.find((e) => e.event === 'source' && (e.data as any).status === 'reconnecting')!.data as any
    t.match(lost.lastError, 'LClientRcv returned -201 (connection stopped), LClientGetError -201; LClientStop called')
    if (mode === 'process') t.match(lost.lastError, /; host process \d+ ended for a fresh start$/)
    t.equal(lost.failures, 0, 'a link that worked is no failed attempt')
    const calls = (await s.calls()).map((l) => l.split(' ')[0] + (l.includes('code') ? ' ' + l.split(' ').at(-1) : ''))
    t.same(
      calls.filter((c) => c !== 'rcv'),
      ['start', 'start-result', 'rcv -201', 'geterror', 'stop', 'start', 'start-result', 'rcv -200', 'geterror', 'stop', 'start', 'start-result'],
      'GetError and Stop after each error code, then a new start',
    )
    const metrics = await (await fetch(`${r.url}/metrics`)).text()
    t.match(metrics, /telbridge_source_connect_failures_total\{source="dll"\} 2/)
    // issue 11: seed 002 runs LClientStart once per process; by default each start gets a new host process
    const pids = await startPids(s)
    if (mode === 'process') {
      t.equal(new Set(pids).size, 3, `each LClientStart in a new host process (pids ${pids.join(', ')})`)
      t.notOk(pids.includes(process.pid), 'none of them the daemon')
      const src = (await getJson(`${r.url}/v1/sources`)).body.sources.find((x: any) => x.id === 'dll')
      t.match(src.detail, { restart: 'process', hostRestarts: 2, hostPid: pids[2] })
      await eventually(async () => !alive(pids[0]!) && !alive(pids[1]!), 5000, 'the old host processes gone')
    } else {
      t.equal(new Set(pids).size, 1, 'restart: in-process calls LClientStart again in the same host process')
      const src = (await getJson(`${r.url}/v1/sources`)).body.sources.find((x: any) => x.id === 'dll')
      t.match(src.detail, { restart: 'in-process', hostRestarts: 0, hostPid: pids[0] })
    }
  })
}

t.test('a slow LClientRcv (500 ms) does not delay other API requests', { skip: noCompiler }, async (t) => {
  const s = await script(['sleep 500', 'pop H=t1v2,ch=1,ph=1,id=1,tm=081123101500,dm=0;'])
  const r = await daemonWith([dll('dll', s)])
  t.teardown(() => r.stop())
  await until(() => status(r, 'dll') === 'connected', 10_000, 'connected')
  await getJson(`${r.url}/v1/health`) // warm up the HTTP client
  await open(s)
  await eventually(async () => (await s.calls()).some((l) => l.startsWith('rcv sleep')), 5000, 'the slow call began')
  const rtts: number[] = []
  let inFlight: unknown = null
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now()
    const h = await getJson(`${r.url}/v1/health`)
    rtts.push(performance.now() - t0)
    t.equal(h.status, 200)
  }
  const src = (await getJson(`${r.url}/v1/sources`)).body.sources[0]
  inFlight = src.detail.inFlight
  t.equal(inFlight, 'LClientRcv', 'the API answered while the DLL call was still running')
  t.equal(r.sse.events.filter((e) => e.event === 'pop').length, 0, 'and before the pop behind it')
  t.comment(`GET /v1/health round trips during a 500 ms LClientRcv: ${rtts.map((x) => x.toFixed(1)).join(', ')} ms`)
  await r.sse.count('pop', 1, 5000)
})

t.test('start failures back off, report failed, and recover', { skip: noCompiler }, async (t) => {
  // state: the queued start codes survive the new host process each failed start gets (restart: process)
  const s = await script(['start -1', 'start -1', 'start 7', 'pop H=t1v2,ch=1,ph=1,id=1,tm=081123101500,dm=0;'], { gate: false, state: true })
  const r = await daemonWith([dll('dll', s, { failAfter: 2 })])
  t.teardown(() => r.stop())
  await r.sse.count('pop', 1, 10_000)
  t.same(statuses(r.sse, 'dll'), ['reconnecting', 'failed', 'connected'])
  const failed = r.sse.events.find((e) => e.event === 'source' && (e.data as any).status === 'failed')!.data as any
  t.match(failed, { ocxCode: 9, failures: 2, lastError: 'LClientStart returned -1 (LClientGetError -1)' })
  await until(() => r.daemon.sources.get('dll')!.info().failures === 0, 2000, 'failures reset once it works')
  t.equal((await s.calls()).filter((l) => l.startsWith('start-result')).length, 4)
})

t.test('a crash of the DLL, a hung call and a buffer overrun restart the host; no pop is lost', { skip: noCompiler }, async (t) => {
  const p = (ch: number) => `pop H=t1v2,ch=${ch},ph=${ch},id=${ch},tm=081123101500,dm=0;`
  const s = await script([p(1), 'exit 9', p(2), 'sleep 60000', p(3), 'fill 4200 65', p(4), 'fill 4096 66', p(5)], { state: true })
  const r = await daemonWith([dll('dll', s, { callTimeoutSeconds: 0.5 })])
  t.teardown(() => r.stop())
  await until(() => status(r, 'dll') === 'connected', 10_000, 'connected')
  await open(s)
  const pops = await r.sse.count('pop', 5, 20_000)
  t.same(
    pops.map((e) => (e.data as any).pop.channel),
    [1, 2, 3, 4, 5],
  )
  const errors = r.sse.events.filter((e) => e.event === 'source' && (e.data as any).status === 'reconnecting').map((e) => (e.data as any).lastError)
  t.match(errors, [
    /LClient host process ended \(exit code 9\)/,
    /LClientRcv did not return within 500 ms; the LClient host was killed/,
    /wrote past the 4096-byte receive buffer; the DLL's host process was restarted/,
  ])
  const inv = await r.sse.next((e) => e.event === 'pop.invalid')
  t.match(inv.data, { source: 'dll', raw: 'B'.repeat(4096) }, 'a pop without NUL is cut at the buffer and goes to the parser')
  const pids = new Set(
    (await readFile(join(dir, `calls${n - 1}.log`), 'latin1'))
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ')[0]),
  )
  t.equal(pids.size, 4, 'four host processes')
  const metrics = await (await fetch(`${r.url}/metrics`)).text()
  t.match(metrics, /telbridge_frames_invalid_total\{source="dll",code="UNTERMINATED"\} 1/)
})

t.test('stop does not hang on a slow call in flight', { skip: noCompiler }, async (t) => {
  const s = await script(['sleep 5000'], { gate: false })
  const r = await daemonWith([dll('dll', s, { stopTimeoutSeconds: 0.2 })])
  t.teardown(() => r.stop())
  await eventually(async () => (await s.calls()).some((l) => l.startsWith('rcv sleep')), 10_000, 'the slow call began')
  const pid = (r.daemon.sources.get('dll')!.info().detail as any).hostPid as number
  const t0 = Date.now()
  await r.stop()
  const took = Date.now() - t0
  t.ok(took < 5000, `stopped after ${took} ms, before the 5000 ms call would have returned`)
  t.equal(status(r, 'dll'), 'stopped')
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the host process is gone')
})

t.test('stop calls LClientStop when the DLL is idle', { skip: noCompiler }, async (t) => {
  const s = await script([], { gate: false })
  const r = await daemonWith([dll('dll', s)])
  t.teardown(() => r.stop())
  await until(() => status(r, 'dll') === 'connected', 10_000, 'connected')
  await r.stop()
  t.equal((await s.calls()).at(-1), 'stop')
})

t.test('demo: true uses LClientStartDemo and LClientRcvDemo', { skip: noCompiler }, async (t) => {
  const s = await script(['pop 2,02586307627,1000,1208674344953,NA'], { gate: false })
  const r = await daemonWith([dll('dll', s, { demo: true })])
  t.teardown(() => r.stop())
  const [pop] = await r.sse.count('pop', 1, 10_000)
  t.equal((pop!.data as any).pop.phone, '02586307627')
  t.same(
    (await s.calls()).map((l) => l.split(' ')[0]).filter((x, i, a) => a.indexOf(x) === i),
    ['startdemo', 'start-result', 'rcvdemo'],
  )
})

t.test('a DLL this Node cannot load: status failed with the reason, no retries, other sources unaffected', { skip: noCompiler }, async (t) => {
  const elf = Buffer.alloc(64)
  elf.write('\x7fELF', 0, 'latin1')
  elf[4] = 2
  elf[5] = 1
  elf.writeUInt16LE(process.arch === 'arm64' ? 62 : 183, 18)
  const other = join(dir, 'libother-arch.so')
  await writeFile(other, elf)
  const pe = Buffer.alloc(0x200)
  pe.write('MZ', 0, 'latin1')
  pe.writeUInt32LE(0x80, 0x3c)
  pe.write('PE\0\0', 0x80, 'latin1')
  pe.writeUInt16LE(0x14c, 0x84)
  pe.writeUInt16LE(0x2102, 0x96)
  const dllFile = join(dir, 'LClient.dll')
  await writeFile(dllFile, pe)
  const s = await script(['pop H=t1v2,ch=1,ph=1,id=1,tm=081123101500,dm=0;'], { gate: false })
  const r = await daemonWith([
    { ...dll('arch', s), library: other },
    { ...dll('win', s), library: dllFile, oper: '802' },
    { ...dll('missing', s), library: join(dir, 'nope.dll'), oper: '803', reconnectSeconds: 0.05 },
    { ...dll('ok', s), oper: '804' },
  ])
  t.teardown(() => r.stop())
  await until(() => status(r, 'arch') === 'failed' && status(r, 'win') === 'failed', 10_000, 'both failed')
  t.match(r.daemon.sources.get('arch')!.info().lastError, /is a .* library, but this Node is .*needs .* Node.*The lq-socket source works without the DLL/)
  t.match(r.daemon.sources.get('win')!.info().lastError, /LClient\.dll is a Windows DLL; it can only be loaded on Windows \(this is linux\)\. The lq-socket source works without the DLL/)
  await until(() => r.daemon.sources.get('missing')!.info().failures >= 3, 10_000, 'a missing file is retried')
  t.match(r.daemon.sources.get('missing')!.info(), { status: 'failed', lastError: /cannot read .*nope\.dll: no such file/ })
  await r.sse.count('pop', 1, 10_000)
  t.equal(status(r, 'ok'), 'connected')
  await new Promise((res) => setTimeout(res, 300))
  t.same(statuses(r.sse, 'arch'), ['failed'], 'no retries of a library that cannot work')
  t.equal(r.daemon.sources.get('arch')!.info().failures, 0)
})

t.test('the same agent twice through one DLL is refused; two agents may share the DLL file', { skip: noCompiler }, async (t) => {
  const a = await script(['pop H=t1v3,ch=1,ph=1,id=1,tm=081123101500,op=801,sn=1,dm=0;'], { gate: false })
  const b = await script(['pop H=t1v3,ch=2,ph=2,id=2,tm=081123101500,op=802,sn=2,dm=0;'], { gate: false })
  const r = await daemonWith([dll('a', a), dll('a2', a), dll('b', b, { oper: '802' })])
  t.teardown(() => r.stop())
  await r.sse.count('pop', 2, 10_000)
  t.match(r.daemon.sources.get('a2')!.info(), {
    status: 'failed',
    lastError: /source a already logs agent 801 in to .* through .*liblclient_double\.so; a second login of the same agent would fight the first/,
  })
  const pids = [(r.daemon.sources.get('a')!.info().detail as any).hostPid, (r.daemon.sources.get('b')!.info().detail as any).hostPid]
  t.equal(new Set(pids).size, 2, 'one host process (one DLL instance) per source')
})

t.test('config: defaults and bad values', { skip: noCompiler }, async (t) => {
  const cfg = parseConfig({ sources: [{ id: 'd', type: 'lq-dll', library: 'C:\\LQ\\LClient.dll', oper: 801 }] }).sources[0] as any
  t.match(cfg, {
    host: '127.0.0.1',
    port: '7628',
    oper: '801',
    ch: '-1',
    demo: false,
    debug: false,
    pollMs: 100,
    bufferSize: 4096,
    callTimeoutSeconds: 30,
    stopTimeoutSeconds: 2,
    reconnectSeconds: 20,
    failAfter: 3,
    checkArch: true,
    popStateSeconds: 120,
    restart: 'process',
  })
  t.equal(cfg.callingConvention, undefined, 'chosen by platform at start')
  const bad = (src: Record<string, unknown>) => () => parseConfig({ sources: [{ id: 'd', type: 'lq-dll', library: 'x.dll', oper: '801', ...src }] })
  t.throws(bad({ callingConvention: 'fastcall' }), { message: /sources\[0\]\.callingConvention: expected one of "stdcall", "cdecl"/ })
  t.throws(bad({ port: '70000' }), { message: /sources\[0\]\.port: expected a TCP port/ })
  t.throws(bad({ pollMs: 0 }), { message: /sources\[0\]\.pollMs/ })
  t.throws(bad({ library: '' }), { message: /sources\[0\]\.library/ })
  t.throws(bad({ host: 'a\0b' }), { message: /without NUL/ })
  t.throws(bad({ bufferSize: 16 }), { message: /sources\[0\]\.bufferSize/ })
  t.throws(bad({ nonsense: 1 }), { message: /no such key/ })
  t.throws(bad({ restart: 'never' }), { message: /sources\[0\]\.restart: expected one of "process", "in-process"/ })
  t.throws(() => parseConfig({ sources: [{ id: 'd', type: 'lq-dll', oper: '801' }] }), { message: /sources\[0\]\.library: expected a value/ })
})
