import t from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'

// uses the build: run `npx tsc -p .` first (as the other CLI tests do)
const CLI = join(import.meta.dirname, '..', 'dist', 'daemon', 'cli.js')

function run(args: string[]): { done: Promise<{ code: number | null; stderr: string }>; child: ReturnType<typeof spawn>; stderr: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s))
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr: err })))
  return { done, child, stderr: () => err }
}

t.test('simulate guoxin: serves EXTNUM_STATE, stops on SIGTERM', async (t) => {
  const p = run(['simulate', 'guoxin', '--port', '0', '--extensions', '801-803,810', '--ring-seconds', '0.1'])
  const deadline = Date.now() + 10_000
  let url: string | undefined
  while (!(url = /http:\/\/127\.0\.0\.1:\d+/.exec(p.stderr())?.[0]) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  t.ok(url, p.stderr())
  const r = await fetch(`${url}/bridge/jsoncfg?opt=EXTNUM_STATE`)
  const body = (await r.json()) as { telNum: string; state: string }[]
  t.same(
    body.map((e) => [e.telNum, e.state]),
    [
      ['801', 'IDEL'],
      ['802', 'IDEL'],
      ['803', 'IDEL'],
      ['810', 'IDEL'],
    ],
  )
  t.equal((await fetch(`${url}/bridge/callctrl?caller=801&callee=13800000000&authtype=no&opt=CLICK_TO_DIAL`)).status, 200)
  t.equal((await fetch(`${url}/bridge/callctrl?caller=801&callee=13800000000&authtype=no&opt=CLICK_TO_DIAL`)).status, 486, 'the extension is busy now')
  p.child.kill('SIGTERM')
  t.equal((await p.done).code, 0)
})

t.test('simulate guoxin: bad options exit 2 with the reason', async (t) => {
  for (const [args, msg] of [
    [['--extensions', '9-1'], /--extensions: bad range 9-1/],
    [['--push', 'ftp://x'], /--push must be an http:\/\/ URL/],
    [['--encoding', 'big5'], /--encoding must be utf-8 or gbk/],
    [['--ring-seconds', 'soon'], /--ring-seconds must be a number/],
  ] as const) {
    const r = await run(['simulate', 'guoxin', '--port', '0', ...args]).done
    t.equal(r.code, 2, args.join(' '))
    t.match(r.stderr, msg)
  }
})
