import t from 'tap'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import iconv from 'iconv-lite'
import { buildDouble, writeScript } from '../../native/test-double/build.js'
import { daemonRig } from '../helpers/rig.js'
import { SseReader, getJson, until } from '../helpers/sse.js'
import { cDrive, cPath, startDaemon, windowsEnv, windowsUnavailable, type WinDaemon } from '../helpers/windows.js'

/**
 * Issue 14, item 3: the daemon under 32-bit Windows Node 22 (node-win-x86) in Wine, with the
 * LClient test double built by mingw as a 32-bit `__stdcall` DLL from the same source as the Linux
 * one. One daemon, started from a config with Windows paths, runs five lq-dll sources: pops (compared
 * event by event with a Linux daemon running the same script), -201 mid-stream, a 500 ms
 * LClientRcv, demo mode, and a DLL that crashes, hangs and overruns its buffer; then Ctrl+C stops it with LClientStop called in every host.
 */

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
const FLAKY = [
  'pop H=t1v2,ch=1,ph=1,id=1,tm=081123101500,dm=0;',
  'empty 3',
  'code -201',
  'pop H=t1v2,ch=2,ph=2,id=2,tm=081123101500,dm=0;',
  'empty 3',
  'pop H=t1v2,ch=3,ph=3,id=3,tm=081123101500,dm=0;',
]

/** a pop or channel event with everything that names the source or the moment taken out */
function comparable(e: any): unknown {
  const { eventId, source, receivedAt, channelId, id, since, updatedAt, ...rest } = e
  return { ...rest, channelId: typeof channelId === 'string' ? channelId.replace(/^[^:]+:/, '') : channelId, id: typeof id === 'string' ? id.replace(/^[^:]+:/, '') : undefined }
}

const calls = async (file: string) =>
  iconv
    .decode(await readFile(file).catch(() => Buffer.alloc(0)), 'gbk')
    .split(/\r?\n/)
    .filter(Boolean)
    .map((l) => l.replace(/^pid=\d+ tid=\d+ /, ''))

const why = windowsUnavailable('ia32')
// a cold cache (npm downloads, new Wine prefixes) on a loaded machine takes longer than tap's 120 s
t.setTimeout(300_000)

t.test('Windows x86 (Node 22 ia32 under Wine): the lq-dll source with a 32-bit stdcall DLL', { skip: why ? `Windows group skipped: ${why}` : false, timeout: 240_000 }, async (t) => {
  const env = await windowsEnv('ia32')
  t.comment(`node.exe ${env.version} ${env.arch}`)
  const run = `x86-${process.pid}`
  const dir = cDrive(env, 'tbwin', run) // C:\tbwin\x86-<pid>
  const win = (...p: string[]) => cPath('tbwin', run, ...p)
  mkdirSync(dir, { recursive: true })
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  await buildDouble(dir, { target: 'win-ia32', name: 'LClient.dll' })

  // each script: its call log, a gate the test opens, then the steps (paths as the DLL sees them)
  const script = async (name: string, steps: string[], opts: { gate?: boolean; state?: boolean } = {}) => {
    const head = [`log ${win(`${name}.log`)}`, ...(opts.state ? [`state ${win(`${name}.state`)}`] : []), ...(opts.gate === false ? [] : [`gate ${win(`${name}.go`)}`])]
    await writeScript(join(dir, `${name}.txt`), [...head, ...steps])
    return { host: win(`${name}.txt`), log: join(dir, `${name}.log`), go: () => writeFile(join(dir, `${name}.go`), '') }
  }
  const pops = await script(
    'pops',
    POPS.map((p) => `pop ${p}`),
  )
  const flaky = await script('flaky', FLAKY, { state: true })
  const slow = await script('slow', ['sleep 500', 'pop H=t1v2,ch=1,ph=1,id=1,tm=081123101500,dm=0;'])
  const demo = await script('demo', ['pop 2,02586307627,1000,1208674344953,NA'], { gate: false })
  const p = (ch: number) => `pop H=t1v2,ch=${ch},ph=${ch},id=${ch},tm=081123101500,dm=0;`
  const crash = await script('crash', [p(1), 'exit 9', p(2), 'sleep 60000', p(3), 'fill 4200 65', p(4), 'fill 4096 66', p(5)], { state: true })

  const lib = win('LClient.dll')
  const src = (id: string, host: string, extra: Record<string, unknown> = {}) => ({ id, type: 'lq-dll', library: lib, host, oper: '801', pollMs: 10, reconnectSeconds: 0.05, ...extra })
  const config = {
    api: { host: '127.0.0.1', port: 0 },
    dataDir: win('data'),
    sources: [src('dll', pops.host), src('flaky', flaky.host), src('slow', slow.host), src('demo', demo.host, { demo: true }), src('crash', crash.host, { callTimeoutSeconds: 1 })],
  }
  writeFileSync(join(dir, 'telbridge.json'), JSON.stringify(config, null, 2))
  t.match(JSON.stringify(config), /"library":"C:\\\\tbwin\\\\x86-\d+\\\\LClient\.dll"/, 'the config names the DLL with a drive letter and backslashes')

  let d: WinDaemon | null = await startDaemon(env, win('telbridge.json'))
  t.teardown(() => d?.stop())
  const sse = await SseReader.open(`${d.url}/v1/events?since=0`)
  t.teardown(() => sse.close())
  const source = async (id: string) => (await getJson(`${d!.url}/v1/sources`)).body.sources.find((s: any) => s.id === id)
  await until(async () => (await getJson(`${d!.url}/v1/sources`)).body.sources.every((s: any) => s.status === 'connected'), 60_000, 'all five sources connected')

  await t.test('pops on /v1/events are the same as a Linux daemon running the same script', async (t) => {
    // the Linux run: the same steps, through the .so built from the same source
    const ldir = await mkdtemp(join(tmpdir(), 'tb-win-linux-'))
    t.teardown(() => rm(ldir, { recursive: true, force: true }))
    const so = await buildDouble(ldir)
    const lscript = await writeScript(join(ldir, 'pops.txt'), [`gate ${join(ldir, 'go')}`, ...POPS.map((p) => `pop ${p}`)])
    const linux = await daemonRig({ sources: [{ id: 'dll', type: 'lq-dll', library: so, host: lscript, oper: '801', pollMs: 10 }] }, { sse: 'all', t })
    await until(() => linux.daemon.sources.get('dll')!.status === 'connected', 10_000, 'Linux source connected')
    await writeFile(join(ldir, 'go'), '')
    await pops.go()
    await linux.sse!.count('pop', POPS.length - 1, 10_000)
    await linux.sse!.count('pop.invalid', 1, 10_000)
    await until(() => sse.events.filter((e) => e.event === 'pop' && (e.data as any).source === 'dll').length === POPS.length - 1, 30_000, 'Windows pops')
    await until(() => sse.events.some((e) => e.event === 'pop.invalid' && (e.data as any).source === 'dll'), 10_000, 'Windows pop.invalid')
    const of = (events: typeof sse.events, type: string) => events.filter((e) => e.event === type && (e.data as any).source === 'dll').map((e) => comparable(e.data))
    for (const type of ['pop', 'pop.invalid', 'channel']) t.same(of(sse.events, type), of(linux.sse!.events, type), `${type} events: Windows = Linux`)
    t.equal(of(sse.events, 'pop').length, POPS.length - 1)
    t.ok(of(sse.events, 'channel').length >= 5, 'channel events compared')
    const gbk = sse.events.find((e) => e.event === 'pop' && (e.data as any).source === 'dll' && (e.data as any).pop.channel === 7)!.data as any
    t.same(gbk.pop.data, { 城市: '南京', 会员等级: '金卡', 客户: '王女士' }, 'GBK text survives the Windows DLL path')
    const s = await source('dll')
    t.match(s.detail, { library: lib, libraryFormat: 'pe', libraryArch: 'ia32', callingConvention: 'stdcall', popsIn: POPS.length })
    t.ok(s.detail.hostPid, 'the DLL runs in a host process')
    t.match((await calls(pops.log))[0], /^start port=7628 oper=801 ch=-1 flag=0$/)
  })

  await t.test('-201 mid-stream: LClientStop, a new host process, and the later pops arrive', async (t) => {
    await flaky.go()
    const got = await until(
      () => {
        const p = sse.events.filter((e) => e.event === 'pop' && (e.data as any).source === 'flaky')
        return p.length >= 3 && p
      },
      30_000,
      'three pops from the flaky source',
    )
    t.same(
      got.map((e) => (e.data as any).pop.channel),
      [1, 2, 3],
    )
    const lost = sse.events.find((e) => e.event === 'source' && (e.data as any).id === 'flaky' && (e.data as any).status === 'reconnecting')!.data as any
    t.match(lost.lastError, /LClientRcv returned -201 \(connection stopped\), LClientGetError -201; LClientStop called; host process \d+ ended for a fresh start$/)
    const steps = (await calls(flaky.log)).map((l) => l.split(' ')[0] + (l.includes('code') ? ' ' + l.split(' ').at(-1) : '')).filter((c) => c !== 'rcv')
    t.same(steps.slice(0, 6), ['start', 'start-result', 'rcv -201', 'geterror', 'stop', 'start'], 'GetError and Stop after the code, then a new start')
    await until(async () => (await source('flaky')).status === 'connected', 10_000, 'connected again')
    t.match((await source('flaky')).detail, { hostRestarts: 1 })
  })

  await t.test('a 500 ms LClientRcv does not delay an API round trip', async (t) => {
    await getJson(`${d!.url}/v1/health`)
    await slow.go()
    await until(async () => (await calls(slow.log)).some((l) => l.startsWith('rcv sleep')), 10_000, 'the slow call began')
    const rtts: number[] = []
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now()
      t.equal((await getJson(`${d!.url}/v1/health`)).status, 200)
      rtts.push(performance.now() - t0)
    }
    const inFlight = (await source('slow')).detail.inFlight
    t.equal(inFlight, 'LClientRcv', 'the API answered while the DLL call was still running')
    t.notOk(
      sse.events.some((e) => e.event === 'pop' && (e.data as any).source === 'slow'),
      'and before the pop behind it',
    )
    t.ok(Math.max(...rtts) < 250, `GET /v1/health round trips during a 500 ms LClientRcv under Wine: ${rtts.map((x) => x.toFixed(1)).join(', ')} ms`)
    await until(() => sse.events.some((e) => e.event === 'pop' && (e.data as any).source === 'slow'), 10_000, 'the pop after the slow call')
  })

  await t.test('demo: true uses LClientStartDemo and LClientRcvDemo', async (t) => {
    const pop = await until(() => sse.events.find((e) => e.event === 'pop' && (e.data as any).source === 'demo'), 10_000, 'the demo pop')
    t.equal((pop.data as any).pop.phone, '02586307627')
    t.same(
      (await calls(demo.log)).map((l) => l.split(' ')[0]).filter((x, i, a) => a.indexOf(x) === i),
      ['startdemo', 'start-result', 'rcvdemo'],
    )
  })

  await t.test('a crash of the DLL, a hung call and a buffer overrun restart the host; no pop is lost', async (t) => {
    await crash.go()
    const got = await until(
      () => {
        const x = sse.events.filter((e) => e.event === 'pop' && (e.data as any).source === 'crash')
        return x.length >= 5 && x
      },
      60_000,
      'five pops from the crashing source',
    )
    t.same(
      got.map((e) => (e.data as any).pop.channel),
      [1, 2, 3, 4, 5],
    )
    const errors = sse.events.filter((e) => e.event === 'source' && (e.data as any).id === 'crash' && (e.data as any).status === 'reconnecting').map((e) => (e.data as any).lastError)
    t.match(errors, [
      /LClient host process ended \(exit code 9\)/,
      /LClientRcv did not return within 1000 ms; the LClient host was killed/,
      /wrote past the 4096-byte receive buffer; the DLL's host process was restarted/,
    ])
    const inv = sse.events.find((e) => e.event === 'pop.invalid' && (e.data as any).source === 'crash')
    t.match(inv?.data, { raw: 'B'.repeat(4096) }, 'a pop without NUL is cut at the buffer and goes to the parser')
    const pids = new Set(
      (await readFile(crash.log, 'latin1'))
        .split(/\r?\n/)
        .filter(Boolean)
        .map((l) => l.split(' ')[0]),
    )
    t.equal(pids.size, 4, 'four host processes')
    await until(async () => (await source('crash')).status === 'connected', 10_000, 'connected again')
  })

  await t.test("Ctrl+C (WinSW's stop) ends the daemon within 5 s, LClientStop called in every host", async (t) => {
    const running = d!
    d = null
    sse.close()
    const { code, ms } = await running.stop()
    t.equal(code, 0, 'exit code 0')
    t.ok(ms < 5000, `stopped in ${ms} ms`)
    const log = await running.proc.logLines()
    t.ok(
      log.some((l) => l.msg === 'telbridge stopped'),
      'the log ends with telbridge stopped',
    )
    for (const s of [pops, flaky, slow, demo, crash]) t.equal((await calls(s.log)).at(-1), 'stop', `${s.host}: LClientStop was the last call`)
    running.proc.cleanup()
  })
})
