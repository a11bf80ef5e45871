import t from 'tap'
import type { CallReport } from '../daemon/core/calls/types.js'
import { daemonRig, type DaemonRig } from './helpers/rig.js'
import { getJson } from './helpers/sse.js'

/** GET /v1/cdr, /v1/cdr/:id, /v1/cdr.csv over real HTTP, the log filled through the daemon's CallSink and table. */

const T0 = Date.parse('2026-12-01T00:00:00Z')
const MIN = 60_000

interface Cdr {
  id: string
  source: string
  agent: string | null
  phone: string | null
  startedAt: string
  disposition: string
  direction: string | null
  recordings: { kind: string; id: string; url: string }[]
  memo: string | null
}
interface Page {
  calls: Cdr[]
  nextCursor: string | null
}

let seq = 0
/** a finished call from a vendor's log; unique vendor ids so no two ever merge */
function logCall(r: DaemonRig, at: number, extra: Partial<CallReport> = {}) {
  seq++
  return r.daemon.calls.report({
    source: 'yt',
    input: 'log',
    agent: '801',
    direction: 'inbound',
    phone: '13800138000',
    startedAt: at,
    answeredAt: at + 5000,
    endedAt: at + 65_000,
    disposition: 'answered',
    vendorIds: { uniqueid: `u-${seq}` },
    ...extra,
  })
}

async function page(r: DaemonRig, q: string): Promise<Page> {
  const res = await getJson(`${r.api}/v1/cdr${q ? '?' + q : ''}`)
  if (res.status !== 200) throw new Error(`${q}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body as Page
}

t.test('filters, order and one record by id', async (t) => {
  const r = await daemonRig({ timeZone: 'Asia/Shanghai' }, { t })
  // 2026-12-01 in Shanghai is 2026-11-30T16:00Z … 2026-12-01T16:00Z
  await logCall(r, T0 + 10 * MIN, { agent: '801', phone: '13800138000' })
  await logCall(r, T0 + 20 * MIN, { agent: '802', phone: '02586307627', direction: 'outbound', disposition: 'failed', answeredAt: null })
  await logCall(r, T0 + 30 * MIN, { source: 'gx', agent: '801', phone: '13912345678', disposition: 'missed', answeredAt: null, recordings: [{ kind: 'vendor', id: 'rec 1.wav', source: 'gx' }] })
  await logCall(r, T0 + 17 * 60 * MIN, { agent: '801', phone: '18600001111', recordings: [{ kind: 'local', id: 'abc', contentType: 'audio/wav', size: 44 }] })
  await logCall(r, T0 - 8 * 60 * MIN - MIN, { agent: '801', phone: '13800999999', memo: '回访' })

  const all = await page(r, '')
  t.equal(all.calls.length, 5)
  t.equal(all.nextCursor, null)
  const starts = all.calls.map((c) => Date.parse(c.startedAt))
  t.same(
    starts,
    [...starts].sort((a, b) => b - a),
    'newest first',
  )
  const ids = (p: Page) => p.calls.map((c) => c.phone).sort()
  t.same(ids(await page(r, 'source=gx')), ['13912345678'])
  t.same(ids(await page(r, 'agent=802')), ['02586307627'])
  t.same(ids(await page(r, 'direction=outbound')), ['02586307627'])
  t.same(ids(await page(r, 'disposition=missed')), ['13912345678'])
  t.same(ids(await page(r, 'hasRecording=true')), ['13912345678', '18600001111'])
  t.equal((await page(r, 'hasRecording=false')).calls.length, 3)
  // phone: a prefix, a substring (trigram index), a short substring (scan), no match
  t.same(ids(await page(r, 'phone=138')), ['13800138000', '13800999999'])
  t.same(ids(await page(r, 'phone=0013')), ['13800138000'])
  t.same(ids(await page(r, 'phone=8630762')), ['02586307627'])
  t.same(ids(await page(r, 'phone=11')), ['18600001111'])
  t.same(ids(await page(r, 'phone=%25')), [], 'a LIKE wildcard is text, not a wildcard')
  t.same(ids(await page(r, 'phone=555')), [])
  // a bare date is that day in timeZone (Shanghai): the call at 17:00Z is the 2nd there, the one at 15:59Z the 1st
  t.same(ids(await page(r, 'from=2026-12-01&to=2026-12-01&agent=801')), ['13800138000', '13912345678'])
  t.same(ids(await page(r, 'from=2026-12-02')), ['18600001111'])
  t.same(ids(await page(r, 'from=2026-12-01T00:15:00Z&to=2026-12-01T00:35:00Z')), ['02586307627', '13912345678'])
  t.same(ids(await page(r, 'to=2026-12-01T08:10:00%2B08:00')), ['13800999999'], 'an offset; to is exclusive')
  t.same(ids(await page(r, 'from=2026-12-01T08:10:00')), ['02586307627', '13800138000', '13912345678', '18600001111'], 'no offset: wall clock in timeZone')

  const one = all.calls.find((c) => c.source === 'gx')!
  const got = await getJson(`${r.api}/v1/cdr/${one.id}`)
  t.equal(got.status, 200)
  t.match(got.body, { id: one.id, source: 'gx', recordings: [{ kind: 'vendor', id: 'rec 1.wav', source: 'gx', url: '/v1/sources/gx/recordings/rec%201.wav' }] })
  const local = all.calls.find((c) => c.phone === '18600001111')!
  t.match(local.recordings, [{ kind: 'local', id: 'abc', url: '/v1/recordings/abc/audio', contentType: 'audio/wav', size: 44 }])
  t.equal(all.calls.find((c) => c.phone === '13800999999')!.memo, '回访')

  const missing = await getJson(`${r.api}/v1/cdr/no-such-call`)
  t.equal(missing.status, 404)
  t.match(missing.body, { error: { code: 'NOT_FOUND', message: /call "no-such-call"/ } })
})

t.test('a call from the table is in the log with its agent and channel', async (t) => {
  const r = await daemonRig({}, { t })
  const tb = r.daemon.table
  tb.update('lq', '3', { state: 'idle' })
  tb.update('lq', '3', { state: 'ringing', phone: '13700001234', direction: 'inbound', agent: '803' })
  tb.update('lq', '3', { state: 'talking' })
  tb.update('lq', '3', { state: 'idle' })
  let p: Page = { calls: [], nextCursor: null }
  for (let i = 0; i < 100 && !p.calls.length; i++) {
    p = await page(r, 'agent=803')
    if (!p.calls.length) await new Promise((res) => setTimeout(res, 20))
  }
  t.match(p.calls, [{ source: 'lq', channel: '3', channelId: 'lq:3', agent: '803', phone: '13700001234', disposition: 'answered', inputs: ['line'] }])
})

t.test('cursor paging: every call once, in order, while new calls arrive', async (t) => {
  const r = await daemonRig({}, { t })
  const N = 60
  // pairs with the same start: the id breaks the tie
  for (let i = 0; i < N; i++) await logCall(r, T0 + Math.floor(i / 2) * 5 * MIN, { phone: `1390000${String(i).padStart(4, '0')}` })
  const before = new Set((await page(r, 'limit=1000')).calls.map((c) => c.id))
  t.equal(before.size, N)
  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const p: Page = await page(r, `limit=7${cursor ? `&cursor=${cursor}` : ''}`)
    seen.push(...p.calls.map((c) => c.id))
    cursor = p.nextCursor
    pages++
    // newer calls arrive between pages: they sort before the cursor and never shift what follows
    await logCall(r, Date.now() + pages * MIN, { phone: '18800000000' })
    t.ok(pages < 20, 'paging ends')
  } while (cursor)
  t.equal(new Set(seen).size, seen.length, 'no duplicates')
  t.same(
    seen.filter((id) => before.has(id)),
    [...before],
    'no gaps, same order as one big page',
  )
  t.equal(seen.filter((id) => before.has(id)).length, N)
  t.equal(pages, Math.ceil(N / 7), 'calls that arrived after the first page sort before it: no extra page')
})

t.test('cursor paging with a phone filter (the trigram path) and with a short one (the scan)', async (t) => {
  const r = await daemonRig({}, { t })
  for (let i = 0; i < 25; i++) await logCall(r, T0 + Math.floor(i / 3) * MIN, { phone: i % 2 ? `1380013${String(i).padStart(4, '0')}` : `1590000${String(i).padStart(4, '0')}` })
  for (const phone of ['8001', '38', '1380013']) {
    const all = (await page(r, `phone=${phone}&limit=1000`)).calls.map((c) => c.id)
    t.equal(all.length, 12, phone)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const p: Page = await page(r, `phone=${phone}&limit=5${cursor ? `&cursor=${cursor}` : ''}`)
      seen.push(...p.calls.map((c) => c.id))
      cursor = p.nextCursor
    } while (cursor)
    t.same(seen, all, `${phone}: every match once, in order`)
  }
})

/** RFC 4180 parsing, enough for the test: quoted fields with "" and CRLF inside. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let cell = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"'
        i++
      } else if (c === '"') quoted = false
      else cell += c
    } else if (c === '"') quoted = true
    else if (c === ',') {
      row.push(cell)
      cell = ''
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell)
      rows.push(row)
      row = []
      cell = ''
      i++
    } else cell += c
  }
  if (cell || row.length) throw new Error('CSV does not end with CRLF')
  return rows
}

t.test('CSV: BOM, header, CRLF, quoting, Chinese, formula guard, filters, cap', async (t) => {
  const r = await daemonRig({ timeZone: 'Asia/Shanghai' }, { t })
  await logCall(r, T0, { memo: '张三, "VIP"\r\n回访', popData: { name: '李四' } })
  await logCall(r, T0 + MIN, {
    memo: '=HYPERLINK("http://x")',
    phone: '+8613800138000',
    agent: '@801',
    recordings: [
      { kind: 'local', id: 'a' },
      { kind: 'vendor', id: 'b', source: 'yt' },
    ],
  })
  await logCall(r, T0 + 2 * MIN, { source: 'gx', memo: '-1+1' })
  const res = await fetch(`${r.api}/v1/cdr.csv?source=yt`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/csv; charset=utf-8/)
  t.equal(res.headers.get('telbridge-next-cursor'), null)
  const bytes = Buffer.from(await res.arrayBuffer())
  t.same([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 BOM')
  const text = bytes.subarray(3).toString('utf8')
  t.notMatch(text.replace(/\r\n/g, ''), /\n/, 'every line break outside a quoted field is CRLF')
  const rows = parseCsv(text)
  t.same(rows[0], [
    'id',
    'source',
    'channel',
    'channelId',
    'agent',
    'direction',
    'phone',
    'startedAt',
    'answeredAt',
    'endedAt',
    'ringSeconds',
    'talkSeconds',
    'disposition',
    'recordings',
    'vendorIds',
    'popData',
    'memo',
    'inputs',
    'updatedAt',
  ])
  t.equal(rows.length, 3, 'header + the two yt calls')
  const col = (row: string[], name: string) => row[rows[0]!.indexOf(name)]
  const [newer, older] = [rows[1]!, rows[2]!]
  t.equal(col(older, 'memo'), '张三, "VIP"\r\n回访', 'quotes, comma and a line break survive')
  t.equal(col(older, 'popData'), '{"name":"李四"}')
  t.equal(col(older, 'startedAt'), '2026-12-01T08:00:00+08:00', 'times in timeZone with their offset')
  t.equal(col(older, 'talkSeconds'), '60')
  t.equal(col(newer, 'memo'), `'=HYPERLINK("http://x")`, 'a formula is text')
  t.equal(col(newer, 'phone'), "'+8613800138000")
  t.equal(col(newer, 'agent'), "'@801")
  t.equal(col(newer, 'recordings'), '/v1/recordings/a/audio /v1/sources/yt/recordings/b')

  // the cap: limit=1 gives one row and says where to go on
  const capped = await fetch(`${r.api}/v1/cdr.csv?limit=1`)
  const next = capped.headers.get('telbridge-next-cursor')
  t.ok(next, 'a capped answer names its continuation')
  t.equal(parseCsv((await capped.text()).replace(/^\ufeff/, '')).length, 2)
  const rest = parseCsv((await (await fetch(`${r.api}/v1/cdr.csv?cursor=${next}`)).text()).replace(/^\ufeff/, ''))
  t.equal(rest.length, 3, 'the other two')
})

t.test('bad queries are 400 naming the parameter', async (t) => {
  const r = await daemonRig({}, { t })
  const cases: [string, string][] = [
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=x', 'limit'],
    ['cursor=nope', 'cursor'],
    [`cursor=${Buffer.from('1.').toString('base64url')}`, 'cursor'],
    [`cursor=${Buffer.from('x.abc').toString('base64url')}`, 'cursor'],
    ['from=yesterday', 'from'],
    ['from=2026-02-31', 'from'],
    ['to=2026-12-01T25:00:00Z', 'to'],
    ['from=2026-12-02&to=2026-12-01T00:00:00Z', 'to'],
    ['direction=sideways', 'direction'],
    ['disposition=lost', 'disposition'],
    ['hasRecording=maybe', 'hasRecording'],
    [`phone=${'1'.repeat(33)}`, 'phone'],
  ]
  for (const [q, name] of cases) {
    for (const path of ['/v1/cdr', '/v1/cdr.csv']) {
      if (q === 'limit=1001' && path === '/v1/cdr.csv') continue // the CSV's cap is 100,000 (below)
      const res = await getJson(`${r.api}${path}?${q}`)
      t.equal(res.status, 400, `${path}?${q}`)
      t.match(res.body, { error: { code: 'BAD_QUERY', message: new RegExp(`invalid query parameter ${name}:`) } }, `${path}?${q}`)
    }
  }
  t.equal((await getJson(`${r.api}/v1/cdr.csv?limit=100000`)).status, 200)
  t.equal((await getJson(`${r.api}/v1/cdr.csv?limit=100001`)).status, 400)
})

t.test('a CSV client that goes away mid-stream, and HEAD, leave the log readable and writable', async (t) => {
  const r = await daemonRig({}, { t })
  for (let b = 0; b < 4; b++) await Promise.all(Array.from({ length: 500 }, (_, i) => logCall(r, T0 + (b * 500 + i) * MIN, { memo: 'x'.repeat(200) })))
  const ac = new AbortController()
  const res = await fetch(`${r.api}/v1/cdr.csv`, { signal: ac.signal })
  const reader = res.body!.getReader()
  await reader.read()
  ac.abort()
  const head = await fetch(`${r.api}/v1/cdr.csv`, { method: 'HEAD' })
  t.equal(head.status, 200)
  t.match(head.headers.get('content-type'), /text\/csv/)
  await logCall(r, T0 - MIN)
  t.equal((await page(r, 'limit=1000')).calls.length, 1000)
  const full = (await (await fetch(`${r.api}/v1/cdr.csv`)).text()).split('\r\n').length
  t.equal(full, 2001 + 1 + 1, 'header, 2,001 rows and the empty tail after the last CRLF')
})
