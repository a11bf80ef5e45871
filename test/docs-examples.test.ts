import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startDemo, type DemoHandle } from './helpers/demo.js'
import { getJson, until } from './helpers/sse.js'

/**
 * Issue 12 item 9: the curl examples of README.md and docs/*.md run against `npm run demo` as written.
 * Each ```sh block's `curl` lines are parsed (the flags the docs use: -s -N -i -X -H -d), pointed at
 * the demo (localhost:7700 → its port; $TOKEN is any value: the demo has no token) and sent. A
 * 2xx-3xx status passes; an example that needs something the demo cannot give is marked just before
 * its block with `<!-- docs-test: skip <reason> -->`, or `<!-- docs-test: expect <status> -->`.
 */
const ROOT = join(import.meta.dirname, '..')
const FILES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
]

interface Example {
  where: string
  line: string
  skip: string | null
  expect: number | null
}

function examples(): Example[] {
  const out: Example[] = []
  for (const file of FILES) {
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n')
    let inBlock = false
    let skip: string | null = null
    let expect: number | null = null
    let marker: { skip: string | null; expect: number | null } = { skip: null, expect: null }
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i]!
      const m = /^<!-- docs-test: (skip|expect) (.*?) -->$/.exec(l.trim())
      if (m) marker = m[1] === 'skip' ? { skip: m[2]!, expect: null } : { skip: null, expect: Number(m[2]) }
      if (/^```/.test(l)) {
        if (!inBlock && /^```(sh|bash|console)\s*$/.test(l)) {
          inBlock = true
          ;({ skip, expect } = marker)
        } else inBlock = false
        if (!inBlock) marker = { skip: null, expect: null }
        continue
      }
      if (!inBlock || !/^\s*curl\s/.test(l)) continue
      let cmd = l
      let j = i
      while (/\\\s*$/.test(cmd) && j + 1 < lines.length) cmd = cmd.replace(/\\\s*$/, ' ') + lines[++j]!.trim()
      out.push({ where: `${file}:${i + 1}`, line: cmd, skip, expect })
      i = j
    }
  }
  return out
}

/** Shell words of one curl line: quotes, $TOKEN, and a trailing `# comment` or `> file` dropped. */
function words(line: string): string[] {
  const out: string[] = []
  let cur: string | null = null
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (c === "'") {
      const end = line.indexOf("'", i + 1)
      cur = (cur ?? '') + line.slice(i + 1, end)
      i = end
    } else if (c === '"') {
      const end = line.indexOf('"', i + 1)
      cur = (cur ?? '') + line.slice(i + 1, end).replace(/\$TOKEN/g, 'demo-has-no-token')
      i = end
    } else if (c === ' ' || c === '\t') {
      if (cur !== null) out.push(cur)
      cur = null
    } else if ((c === '#' || c === '>' || c === '|') && cur === null) break
    else cur = (cur ?? '') + c
  }
  if (cur !== null) out.push(cur)
  return out
}

interface CurlRequest {
  method: string
  url: string
  headers: Record<string, string>
  body?: string
  stream: boolean
}

function parseCurl(line: string, api: string): CurlRequest {
  const w = words(line).slice(1)
  const r: CurlRequest = { method: 'GET', url: '', headers: {}, stream: false }
  for (let i = 0; i < w.length; i++) {
    const a = w[i]!
    if (a === '-s' || a === '-i' || a === '-sS') continue
    else if (a === '-N') r.stream = true
    else if (a.startsWith('-X')) r.method = a.length > 2 ? a.slice(2) : w[++i]!
    else if (a === '-H') {
      const h = w[++i]!
      const k = h.indexOf(':')
      r.headers[h.slice(0, k).trim().toLowerCase()] = h.slice(k + 1).trim()
    } else if (a === '-d' || a === '--data') {
      r.body = w[++i]!
      if (r.method === 'GET') r.method = 'POST'
    } else if (a.startsWith('-')) throw new Error(`curl flag ${a} not understood by this test`)
    else r.url = a
  }
  r.url = r.url.replace(/^(https?:\/\/)?(localhost|127\.0\.0\.1):7700/, api)
  if (!r.url.startsWith(api)) throw new Error(`not a URL of the local API: ${r.url}`)
  return r
}

async function send(r: CurlRequest): Promise<{ status: number; text: string }> {
  const ac = new AbortController()
  const res = await fetch(r.url, { method: r.method, headers: r.headers, body: r.body, signal: ac.signal })
  // an event stream stays open: its status is what the example shows
  if (r.stream) {
    ac.abort()
    return { status: res.status, text: '' }
  }
  return { status: res.status, text: (await res.text()).slice(0, 300) }
}

t.test('every curl example of the docs works against the demo', async (t) => {
  const list = examples()
  t.ok(list.length >= 10, `found ${list.length} curl examples`)
  const demo: DemoHandle = await startDemo()
  t.teardown(() => demo.stop())
  // the demo's LQ agents have had a pop, so channel and pop examples have something to show
  await until(async () => ((await getJson(`${demo.api}/v1/pops?limit=1&source=lq-801`)).body.pops ?? []).length > 0, 20000, 'a pop on lq-801')
  for (const ex of list) {
    if (ex.skip) {
      t.comment(`skip ${ex.where}: ${ex.skip}`)
      continue
    }
    const req = parseCurl(ex.line, demo.api)
    const res = await send(req)
    if (ex.expect !== null) t.equal(res.status, ex.expect, `${ex.where}: ${ex.line.trim()}`)
    else t.ok(res.status >= 200 && res.status < 400, `${ex.where}: ${ex.line.trim()} → ${res.status} ${res.text}`)
  }
})

t.test("the demo banner's curl lines succeed, in order, twice over", async (t) => {
  const demo = await startDemo()
  t.teardown(() => demo.stop())
  const lines = demo.banner.split('\n').filter((l) => /\bcurl /.test(l))
  t.ok(lines.filter((l) => /-XPOST \S+\/v1\/calls /.test(l)).length >= 3, 'a dial line per vendor')
  for (let round = 0; round < 2; round++) {
    for (const l of lines) {
      const req = parseCurl(l.slice(l.indexOf('curl')), demo.api)
      if (req.url.endsWith('/v1/calls/hangup')) {
        // a hang-up is for a call that is up: the vendor refuses one still dialling (LQ: 坐席不在通话状态)
        const ok = await until(async () => (await send(req)).status === 202, 15000, `hang-up ${req.body}`).catch(() => false)
        t.ok(ok, `round ${round + 1}: ${l.trim()}`)
        continue
      }
      const res = await send(req)
      t.ok(res.status >= 200 && res.status < 300, `round ${round + 1}: ${l.trim()} → ${res.status} ${res.text}`)
    }
  }
})
