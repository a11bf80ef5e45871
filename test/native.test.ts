import t from 'tap'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import iconv from 'iconv-lite'
import { LClient, LClientError, defaultCallingConvention } from '../native/lclient/index.js'
import { buildDouble, buildDoubleOrSkip, writeScript } from '../native/test-double/build.js'

const dir = await mkdtemp(join(tmpdir(), 'tb-native-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
// no compiler here: every test that needs the double skips, saying why (test/prepare.sh installs gcc, libc6-dev)
const { lib, noCompiler } = await buildDoubleOrSkip(dir)
let n = 0

/** a script plus the path of the call log the double writes */
async function script(lines: (string | Buffer)[]): Promise<{ path: string; log: string; calls: () => Promise<string[]> }> {
  const i = n++
  const log = join(dir, `calls${i}.log`)
  const path = await writeScript(join(dir, `script${i}.txt`), [`log ${log}`, ...lines])
  return {
    path,
    log,
    calls: async () =>
      iconv
        .decode(await readFile(log).catch(() => Buffer.alloc(0)), 'gbk')
        .split('\n')
        .filter(Boolean),
  }
}

const args = (host: string) => ({ host, port: '7628', oper: '801', ch: '-1' })

t.test('the default calling convention: stdcall only on 32-bit Windows', async (t) => {
  t.equal(defaultCallingConvention('ia32', 'win32'), 'stdcall')
  t.equal(defaultCallingConvention('x64', 'win32'), 'cdecl')
  t.equal(defaultCallingConvention('x64', 'linux'), 'cdecl')
  t.equal(defaultCallingConvention('ia32', 'linux'), 'cdecl')
})

t.test('start, receive (codes, pops, GBK both ways), RcvStr, GetError, Stop', { skip: noCompiler }, async (t) => {
  const s = await script([
    'start -1',
    'pop H=t1v5,ch=7,ph=13912345678,ty=1,tm=081123101500,op=801,sn=9,so=0,mb=2001,da=城市:南京|客户:王女士,dm=1;',
    'empty 1',
    'code -202',
    'pop 2,02586307627,1000,1208674344953,NA',
  ])
  const c = await LClient.open({ library: lib })
  t.teardown(() => c.close())
  t.equal(c.callingConvention, 'cdecl')
  t.match(c.info, { format: 'elf', arch: process.arch })
  t.equal(await c.start({ ...args(s.path), oper: '王801' }), -1, 'a failed start returns its code')
  t.equal(await c.getError(), -1)
  t.equal(await c.start({ ...args(s.path), oper: '王801' }), 0)
  const pop = await c.rcv()
  t.equal(pop.code > 0, true)
  t.equal(pop.text, 'H=t1v5,ch=7,ph=13912345678,ty=1,tm=081123101500,op=801,sn=9,so=0,mb=2001,da=城市:南京|客户:王女士,dm=1;', 'GBK pop decoded')
  t.same(pop.bytes, iconv.encode(pop.text!, 'gbk'), 'raw bytes up to the NUL')
  t.match(pop, { terminated: true, overrun: false })
  t.match(await c.rcv(), { code: -100, bytes: null, text: null })
  t.match(await c.rcv(), { code: -202, bytes: null })
  t.equal(await c.getError(), -202)
  t.equal(await c.stop(), 0)
  const str = await c.rcvStr()
  t.match(str, { code: 1, text: '2,02586307627,1000,1208674344953,NA' })
  t.match(await c.rcvStr(), { code: -100, text: null, bytes: null }, 'RcvStr codes come back as codes')
  const calls = await s.calls()
  t.match(calls[0], /^pid=\d+ tid=\d+ start port=7628 oper=王801 ch=-1 flag=0$/, 'GBK arguments arrive intact')
  t.ok(calls.some((l) => l.endsWith(' stop')))
})

t.test('calls run in another process, all on one thread, and never block this event loop', { skip: noCompiler }, async (t) => {
  const s = await script(['pop 1,1,1,1,NA', 'sleep 500', 'pop 2,2,2,2,NA'])
  const c = await LClient.open({ library: lib })
  t.teardown(() => c.close())
  await c.start(args(s.path))
  await c.rcv()
  // a real HTTP round trip on this process while the DLL call sleeps 500 ms in its own
  const srv = createServer((_req, res) => res.end('ok'))
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => srv.close())
  const url = `http://127.0.0.1:${(srv.address() as any).port}/`
  await (await fetch(url)).text() // warm up the HTTP client
  const slow = c.rcv()
  let ended = false
  void slow.then(() => (ended = true))
  await new Promise((r) => setTimeout(r, 50))
  t.equal(c.inFlight, 'LClientRcv')
  const t0 = performance.now()
  const body = await (await fetch(url)).text()
  const rtt = performance.now() - t0
  t.equal(body, 'ok')
  t.equal(ended, false, 'the HTTP request was answered while the DLL call was still running')
  t.comment(`HTTP round trip during a 500 ms LClientRcv: ${rtt.toFixed(1)} ms`)
  t.match(await slow, { code: -100 })
  t.match(await c.rcv(), { text: '2,2,2,2,NA' })
  const calls = await s.calls()
  const ids = new Set(calls.map((l) => /^pid=(\d+) tid=(\d+)/.exec(l)!.slice(1).join('/')))
  t.equal(ids.size, 1, 'one process, one thread')
  const [pid, tid] = [...ids][0]!.split('/')
  t.equal(Number(pid), c.pid)
  t.not(Number(pid), process.pid, 'not this process')
  t.equal(pid, tid, "the host's main thread")
})

t.test('our buffer bounds what is read; a write past it is reported', { skip: noCompiler }, async (t) => {
  const s = await script(['fill 300 65', 'fill 4096 66', 'fill 4120 67', 'pop ok'])
  const c = await LClient.open({ library: lib, bufferSize: 4096 })
  t.teardown(() => c.close())
  await c.start(args(s.path))
  t.match(await c.rcv(), { code: 1, text: 'A'.repeat(300), terminated: true, overrun: false })
  const full = await c.rcv()
  t.match(full, { terminated: false, overrun: false })
  t.equal(full.bytes!.length, 4096, 'no NUL: the read stops at the end of the buffer')
  const over = await c.rcv()
  t.match(over, { terminated: false, overrun: true })
  t.equal(over.bytes!.length, 4096)
  t.match(await c.rcv(), { text: 'ok', overrun: false }, 'the buffer is zeroed before each call')
})

t.test('a call that does not return in time kills the host', { skip: noCompiler }, async (t) => {
  const s = await script(['sleep 5000'])
  const c = await LClient.open({ library: lib, callTimeoutMs: 200 })
  await c.start(args(s.path))
  const e = await c.rcv().then(
    () => null,
    (err) => err,
  )
  t.ok(e instanceof LClientError)
  t.match(e, { code: 'CALL_TIMEOUT', message: /LClientRcv did not return within 200 ms; the LClient host was killed/ })
  t.equal(c.alive, false)
  t.match(
    await c.stop().then(
      () => null,
      (err) => err,
    ),
    { code: 'CALL_TIMEOUT' },
    'later calls fail at once',
  )
})

t.test('a crash of the DLL ends the host, not us', { skip: noCompiler }, async (t) => {
  const s = await script(['exit 3'])
  const c = await LClient.open({ library: lib })
  await c.start(args(s.path))
  const e = await c.rcv().then(
    () => null,
    (err) => err,
  )
  t.match(e, { code: 'HOST_EXITED', message: /LClient host process ended \(exit code 3\)/ })
  t.equal(c.alive, false)
})

t.test('close waits for a call in flight, with a bound', { skip: noCompiler }, async (t) => {
  const s = await script(['sleep 3000'])
  const c = await LClient.open({ library: lib })
  await c.start(args(s.path))
  const pending = c.rcv().then(
    () => null,
    (err) => err,
  )
  await new Promise((r) => setTimeout(r, 50))
  const t0 = Date.now()
  await c.close(200)
  const took = Date.now() - t0
  t.equal(c.alive, false)
  t.ok(took < 3000, `close returned after ${took} ms, before the 3000 ms call would have`)
  t.match(await pending, { code: 'HOST_EXITED', message: /LClientRcv still had not returned 200 ms after stop/ })
  // an idle host just exits
  const idle = await LClient.open({ library: lib })
  await idle.close()
  t.equal(idle.alive, false)
})

t.test('demo functions, a missing export, a library that will not load', { skip: noCompiler }, async (t) => {
  const s = await script(['pop 9,9,9,9,NA'])
  const demo = await LClient.open({ library: lib, demo: true })
  t.teardown(() => demo.close())
  t.equal(await demo.start(args(s.path)), 0)
  t.match(await demo.rcv(), { text: '9,9,9,9,NA' })
  t.match(
    (await s.calls()).map((l) => l.split(' ').slice(2, 4).join(' ')),
    ['startdemo port=7628', 'start-result 0', 'rcvdemo pop'],
  )
  const noDemo = await buildDouble(dir, { name: 'libnodemo.so', defines: ['NO_DEMO'] })
  t.match(
    await LClient.open({ library: noDemo, demo: true }).then(
      () => null,
      (e) => e,
    ),
    { code: 'LOAD_FAILED', message: /exports no function LClientStartDemo/ },
  )
  const plain = await LClient.open({ library: noDemo })
  await plain.close()
  const broken = join(dir, 'libbroken.so')
  const head = Buffer.alloc(64)
  head.write('\x7fELF', 0, 'latin1')
  head[4] = 2
  head[5] = 1
  head.writeUInt16LE(({ x64: 62, arm64: 183, ia32: 3 } as Record<string, number>)[process.arch] ?? 0, 18)
  await writeFile(broken, head)
  t.match(
    await LClient.open({ library: broken }).then(
      () => null,
      (e) => e,
    ),
    { code: 'LOAD_FAILED', message: /cannot load .*libbroken\.so/ },
  )
})

t.test('stdcall is accepted off x86 (koffi ignores it there)', { skip: noCompiler }, async (t) => {
  const s = await script(['pop 1,1,1,1,NA'])
  const c = await LClient.open({ library: lib, callingConvention: 'stdcall' })
  t.teardown(() => c.close())
  t.equal(await c.start(args(s.path)), 0)
  t.match(await c.rcv(), { text: '1,1,1,1,NA' })
})

t.test("the DLL's debug output (flag 1) comes back as GBK-decoded lines", { skip: noCompiler }, async (t) => {
  const s = await script([])
  const lines: string[] = []
  const c = await LClient.open({ library: lib, onOutput: (line, stream) => lines.push(`${stream}: ${line}`) })
  t.teardown(() => c.close())
  await c.start({ ...args(s.path), flag: 1 })
  await new Promise<void>((r) => {
    const iv = setInterval(() => lines.length && (clearInterval(iv), r()), 5)
  })
  t.same(lines, ['stdout: LClientStart: 连接 port 7628'])
})

t.test('the host ignores SIGINT/SIGTERM (sent to the process group) so Stop can still be called', { skip: noCompiler }, async (t) => {
  const s = await script([])
  const c = await LClient.open({ library: lib })
  t.teardown(() => c.close())
  await c.start(args(s.path))
  process.kill(c.pid!, 'SIGTERM')
  process.kill(c.pid!, 'SIGINT')
  await new Promise((r) => setTimeout(r, 100))
  t.equal(await c.stop(), 0)
  await c.close()
  t.equal(c.alive, false)
  t.ok((await s.calls()).some((l) => l.endsWith(' stop')))
})
