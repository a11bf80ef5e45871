import t from 'tap'
import { spawnSync } from 'node:child_process'
import { startDemo } from './helpers/demo.js'
import { getJson, until } from './helpers/sse.js'

/**
 * Issue 12 item 10: /metrics passes `promtool check metrics` (Debian `prometheus`; test/prepare.sh
 * installs it), scraped from the demo: sources of every kind, pops, box uploads, HTTP requests.
 */
const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' })
const missing = promtool.error ? 'promtool not found (Debian package `prometheus`; run bash test/prepare.sh)' : false

t.test('promtool check metrics passes on a busy daemon', { skip: missing }, async (t) => {
  const demo = await startDemo()
  t.teardown(() => demo.stop())
  // some traffic first, so histograms, labelled counters and the per-source series all have samples
  await until(async () => ((await getJson(`${demo.api}/v1/pops?limit=1`)).body.pops ?? []).length > 0, 15000, 'a pop')
  for (const p of ['/v1/health', '/v1/sources', '/v1/channels', '/v1/nope']) await getJson(`${demo.api}${p}`)
  const res = await fetch(`${demo.api}/metrics`)
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  const text = await res.text()
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  t.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`)
  // what the issue named, present with the right types
  t.match(text, /# TYPE telbridge_events_published_total counter/)
  t.match(text, /# TYPE telbridge_sse_dropped_total counter/)
  t.match(text, /# TYPE telbridge_http_request_duration_seconds histogram/)
  t.match(text, /# TYPE telbridge_pop_latency_seconds histogram/)
  t.match(text, /telbridge_pop_latency_seconds_count\{source="[^"]+"\} [1-9]/)
  t.match(text, /^process_cpu_seconds_total /m)
  t.match(text, /^nodejs_eventloop_lag_seconds /m)
  t.match(text, /^telbridge_build_info\{/m)
  t.notMatch(text, /^telbridge_source_up\{[^}]*status=/m, 'no status label on source_up')
  // every configured source has its failure counter from the start
  const sources = ((await getJson(`${demo.api}/v1/sources`)).body.sources as { id: string; type: string }[]).filter((s) => s.type !== '800hu') // boxes are devices, not links
  t.ok(sources.length >= 4, 'several sources')
  for (const s of sources) t.match(text, new RegExp(`telbridge_source_connect_failures_total\\{source="${s.id}"\\} \\d+`), s.id)
})
