// `npm run demo` gives a realistic day within a minute: the demo in-process (every simulator and the
// daemon), its call log read from the demo's own telbridge.db (read-only, beside the running daemon;
// WAL lets a reader in) until answered and missed calls from at least four sources are there.
// About a minute of wall time: run it on its own.
import t from 'tap'
import Database from 'better-sqlite3'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { demoDay } from '../daemon/core/demo-day.js'
import { startDemo } from './helpers/demo.js'

t.test('the demo day: a seeded mix of outcomes, the same each run', async (t) => {
  const now = Date.parse('2026-12-02T10:00:00Z')
  const a = demoDay({ agents: ['801', '802', '803'], count: 400, seed: 7, now })
  t.same(demoDay({ agents: ['801', '802', '803'], count: 400, seed: 7, now }), a, 'seeded')
  const share = (o: string) => a.filter((c) => c.outcome === o).length / a.length
  t.ok(share('answered') > 0.6 && share('answered') < 0.8, `answered ${share('answered')}`)
  for (const o of ['missed', 'busy', 'transferred']) t.ok(share(o) > 0.03, `${o} ${share(o)}`)
  t.ok(
    a.every((c, i) => i === 0 || c.startMs >= a[i - 1]!.startMs),
    'oldest first',
  )
  t.ok(
    a.every((c) => c.startMs <= now - 120_000 && c.startMs >= now - 120_000 - 8 * 3600_000),
    'within 8 hours, none in the last 2 minutes',
  )
  const afternoon = new Date(2026, 11, 2, 15, 0).getTime() // local time
  t.ok(
    demoDay({ agents: ['801'], count: 200, seed: 1, now: afternoon }).every((c) => c.startMs >= new Date(2026, 11, 2, 7, 0).getTime() - 120_000),
    'at 15:00 the day starts 8 hours back',
  )
  const early = new Date(2026, 11, 2, 3, 0).getTime()
  t.ok(
    demoDay({ agents: ['801'], count: 200, seed: 1, now: early }).every((c) => c.startMs >= new Date(2026, 11, 2).getTime()),
    'at 03:00 every call is after midnight: the page shows today',
  )
  t.ok(
    a.filter((c) => c.outcome === 'transferred').every((c) => c.transferTo && c.transferTo !== c.agent && c.talkSeconds > 0),
    'a transfer goes to another agent and talks',
  )
  t.ok(
    a.filter((c) => c.outcome === 'missed' || c.outcome === 'busy').every((c) => c.talkSeconds === 0),
    'missed and busy calls do not talk',
  )
  t.ok(new Set(a.map((c) => c.phone)).size < a.length, 'some callers call again')
})

t.test('within a minute of starting, the demo’s call log has answered and missed calls from at least four sources', async (t) => {
  const demo = await startDemo()
  t.teardown(() => demo.stop())
  const dataDir = /Recordings are written to (\S+) \(deleted/.exec(demo.banner)?.[1]
  t.ok(dataDir && existsSync(join(dataDir, 'telbridge.db')), 'the demo’s database')
  const db = new Database(join(dataDir!, 'telbridge.db'), { readonly: true, fileMustExist: true })
  t.teardown(() => db.close())
  const started = Date.now()
  type Row = { source: string; disposition: string; n: number }
  let rows: Row[] = []
  const bySource = () => {
    const m = new Map<string, Set<string>>()
    for (const r of rows) m.set(r.source, (m.get(r.source) ?? new Set()).add(r.disposition))
    return m
  }
  const enough = () => {
    const m = bySource()
    const answered = [...m.values()].filter((d) => d.has('answered')).length
    const missed = [...m.values()].filter((d) => d.has('missed')).length
    return m.size >= 4 && answered >= 3 && missed >= 3
  }
  while (Date.now() - started < 60_000) {
    rows = db.prepare('SELECT source, disposition, count(*) AS n FROM calls GROUP BY source, disposition ORDER BY source, disposition').all() as Row[]
    if (enough()) break
    await new Promise((r) => setTimeout(r, 1000))
  }
  const took = Date.now() - started
  const summary = [...bySource()].map(([s, d]) => `${s}: ${[...d].join('/')}`).join('; ')
  t.comment(`after ${Math.round(took / 1000)} s: ${summary}`)
  t.comment(rows.map((r) => `${r.source} ${r.disposition} ${r.n}`).join(', '))
  t.ok(bySource().size >= 4, `calls from at least 4 sources (${bySource().size})`)
  t.ok([...bySource().values()].filter((d) => d.has('answered')).length >= 3, 'answered calls from at least 3 sources')
  t.ok([...bySource().values()].filter((d) => d.has('missed')).length >= 3, 'missed calls from at least 3 sources')
  t.ok(took < 60_000, `within a minute (${Math.round(took / 1000)} s)`)
})
