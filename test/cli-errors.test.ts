import t from 'tap'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { findJsonSyntaxError } from '../daemon/core/json-syntax.js'
import { MODULES } from '../daemon/registry.js'

// The CLI as users run it: the compiled bin (npm test builds first).
const CLI = join(import.meta.dirname, '..', 'dist', 'daemon', 'cli.js')
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20000 })

t.test('usage mistakes say what was meant, exit 2', async (t) => {
  const cases: [string[], RegExp][] = [
    [['run', '--conf', 'x.json'], /^telbridge: unknown option --conf \(did you mean --config\?\)\n/],
    [['run', '--config'], /^telbridge: option --config needs a value\n/],
    [['simulate', 'guoxn'], /^telbridge: unknown kind guoxn; kinds: lq, lq-vack, guoxin, yantong, 800hu\n/],
    [['simulate'], /^telbridge: simulate needs a kind: lq, lq-vack, guoxin, yantong, 800hu\n/],
    [['run', '--config', 'nowhere.json', '--log-level', 'loud'], /^telbridge: --log-level must be one of fatal, error, warn, info, debug, trace; got loud\n/],
    [['demo', '--log-level', 'loud'], /^telbridge: --log-level must be one of fatal, error, warn, info, debug, trace; got loud\n/],
    [['simulate', 'lq', '--ratee', '2'], /^telbridge: unknown option --ratee \(did you mean --rate\?\)\n/],
  ]
  for (const [args, want] of cases) {
    const r = cli(...args)
    t.equal(r.status, 2, args.join(' '))
    t.match(r.stderr, want, args.join(' '))
    t.notMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace')
  }
})

t.test('run --help lists the exit codes', async (t) => {
  const r = cli('run', '--help')
  t.equal(r.status, 0)
  t.match(r.stdout, /Exit codes: 0 stopped cleanly .*\n.*2 a usage or configuration error/)
})

t.test("every [--option default] in a --help text is the option's real default", async (t) => {
  const commands = Object.assign({}, ...MODULES.map((m) => m.commands ?? {}))
  t.ok(Object.keys(commands).length >= 5, 'the simulate commands of every module')
  for (const [name, cmd] of Object.entries(commands) as [string, { usage: string; options: Record<string, { default?: unknown }> }][]) {
    const shown = [...cmd.usage.matchAll(/\[--([\w-]+) ([^\]\s]+)\]/g)]
    for (const [, opt, value] of shown) {
      const def = cmd.options[opt!]?.default
      if (def === undefined) continue // an example value for an option without a default
      t.equal(value, String(def), `${name} --${opt}`)
    }
  }
})

t.test('a config that is not JSON is named by line and column; a BOM is accepted', async (t) => {
  const dir = t.testdir({
    'comma.json': '{\n  "api": { "port": 7700, }\n}\n',
    'cut.json': '{\n  "api": {\n',
    'bom.json': '\ufeff{ "api": { "port": 7701 } }',
  })
  const comma = cli('check-config', join(dir, 'comma.json'))
  t.equal(comma.status, 2)
  t.match(comma.stderr, /comma\.json:2:26: expected valid JSON: another key \(no comma before \}\) at line 2, column 26/)
  const cut = cli('check-config', join(dir, 'cut.json'))
  t.equal(cut.status, 2)
  t.match(cut.stderr, /cut\.json:3:1: expected valid JSON: a double-quoted key at line 3, column 1/)
  const bom = cli('check-config', join(dir, 'bom.json'))
  t.equal(bom.status, 0, 'a UTF-8 BOM (Notepad) is not an error')
  t.match(bom.stdout, /API on 127\.0\.0\.1:7701/)
})

t.test('check-config warns when callbacks or boxes need the ingest listener that is not there', async (t) => {
  const dir = t.testdir({
    'no-ingest.json': JSON.stringify({
      boxes: { allow: ['00:00:00:00:00:01'] },
      sources: [
        { id: 'gx', type: 'guoxin', url: 'http://127.0.0.1:1' },
        { id: 'lqv', type: 'lq-vack', url: 'http://127.0.0.1:2' },
      ],
    }),
    'ingest.json': JSON.stringify({ ingest: { port: 0 }, boxes: { allow: ['00:00:00:00:00:01'] }, sources: [{ id: 'gx', type: 'guoxin', url: 'http://127.0.0.1:1' }] }),
  })
  const r = cli('check-config', join(dir, 'no-ingest.json'))
  t.equal(r.status, 0, 'warnings are not errors')
  t.match(r.stderr, /warning: no ingest listener: source gx: the Guoxin server pushes call states to \/guoxin\/gx\/push/)
  t.match(r.stderr, /warning: no ingest listener: source lqv: the LQ server's custURL\/popCRURL callbacks come to \/lq\/lqv\/cust/)
  t.match(r.stderr, /warning: no ingest listener: boxes: the 800hu boxes post/)
  const ok = cli('check-config', join(dir, 'ingest.json'))
  t.equal(ok.status, 0)
  t.equal(ok.stderr, '', 'no warning with an ingest listener')
})

t.test('findJsonSyntaxError agrees with JSON.parse', async (t) => {
  const good = ['{}', '[]', '0', '-1.5e+3', '"a\\u00e9\\n"', '{"a":[1,{"b":null}],"c":true,"d":false}', ' \n\t{ "x" : "y" } \r\n']
  for (const g of good) t.equal(findJsonSyntaxError(g), null, g)
  const bad: [string, number, number][] = [
    ['', 1, 1],
    ['{', 1, 2],
    ['{"a":}', 1, 6],
    ['{"a" 1}', 1, 6],
    ['[1,]', 1, 4],
    ['[1 2]', 1, 4],
    ['{"a":1}x', 1, 8],
    ['{\n"a": tru\n}', 2, 6],
    ['"a\nb"', 1, 3],
    ['01', 1, 2],
    ["{'a':1}", 1, 2],
  ]
  for (const [text, line, column] of bad) t.match(findJsonSyntaxError(text), { line, column }, JSON.stringify(text))
  // random damage to a real config: the scanner finds an error exactly when JSON.parse does
  const base = JSON.stringify({ api: { port: 7700, token: 'x'.repeat(20) }, sources: [{ id: 'a', type: 'lq-socket', oper: '801', n: [1, 2.5, -3e2, true, null, '中文\\"'] }] }, null, 2)
  let seed = 7
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) >>> 0) % n
  const chars = '{}[],:"\\ \n0-.eatrufnl1x'
  let disagreements = 0
  for (let k = 0; k < 3000; k++) {
    const at = rnd(base.length)
    const op = rnd(3)
    const c = chars[rnd(chars.length)]!
    const text = op === 0 ? base.slice(0, at) + base.slice(at + 1) : op === 1 ? base.slice(0, at) + c + base.slice(at) : base.slice(0, at) + c + base.slice(at + 1)
    let parses = true
    try {
      JSON.parse(text)
    } catch {
      parses = false
    }
    if (parses !== (findJsonSyntaxError(text) === null)) disagreements++
  }
  t.equal(disagreements, 0, '3000 damaged configs')
})
