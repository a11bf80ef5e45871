import t from 'tap'
import { queueTimeToIso } from '../daemon/vendors/lq-vack/source.js'
import { rig } from './helpers/daemon.js'
import { getJson } from './helpers/sse.js'

/** Issue 12 item 9: what the docs promise of errors and times (each failed before the fix). */

t.test('a known route with the wrong method is 405 METHOD_NOT_ALLOWED with Allow; an unknown one stays 404', async (t) => {
  const r = await rig()
  t.teardown(() => r.stop())
  const del = await fetch(`${r.url}/v1/channels`, { method: 'DELETE' })
  t.equal(del.status, 405)
  t.match(del.headers.get('allow'), /GET/)
  t.match(await del.json(), { error: { code: 'METHOD_NOT_ALLOWED', message: /DELETE \/v1\/channels: this route takes GET/ } })
  // with a parameter in the pattern
  const put = await fetch(`${r.url}/v1/channels/lq1:2`, { method: 'PUT' })
  t.equal(put.status, 405)
  const get = await fetch(`${r.url}/v1/calls`)
  t.equal(get.status, 405, 'GET on a POST route')
  t.match(get.headers.get('allow'), /POST/)
  const none = await fetch(`${r.url}/v1/nothing-here`, { method: 'DELETE' })
  t.equal(none.status, 404)
  t.match(await none.json(), { error: { code: 'ROUTE_NOT_FOUND' } })
})

t.test('an unknown source= filter is 404 NOT_FOUND naming it, not an empty 200', async (t) => {
  const r = await rig()
  t.teardown(() => r.stop())
  for (const path of ['/v1/channels?source=nope', '/v1/pops?source=nope']) {
    const res = await getJson(`${r.url}${path}`)
    t.equal(res.status, 404, path)
    t.match(res.body, { error: { code: 'NOT_FOUND', message: 'source "nope" not found', source: 'nope', known: ['lq1'] } }, path)
  }
  t.equal((await getJson(`${r.url}/v1/channels?source=lq1`)).status, 200, 'a known source still answers')
  t.equal((await getJson(`${r.url}/v1/pops?source=lq1`)).status, 200)
})

t.test('getQueueStatus startTime (a time of day) becomes ISO 8601 in the source zone', async (t) => {
  const at = Date.parse('2026-12-02T14:20:00+08:00')
  t.equal(queueTimeToIso('14:18:25', at, 'Asia/Shanghai'), '2026-12-02T14:18:25+08:00')
  t.equal(queueTimeToIso('9:05:00', at, 'Asia/Shanghai'), '2026-12-02T09:05:00+08:00')
  t.equal(queueTimeToIso('23:59:00', at, 'Asia/Shanghai'), '2026-12-01T23:59:00+08:00', 'still to come today: it began yesterday')
  t.equal(queueTimeToIso('bogus', at, 'Asia/Shanghai'), null)
  t.equal(queueTimeToIso(null, at, 'Asia/Shanghai'), null)
})
