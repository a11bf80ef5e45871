import t from 'tap'
import { getJson, SseReader } from './helpers/sse.js'
import { boxPost, boxRig, MAC, statusJson } from './helpers/boxes.js'

/** Issue 9 item 6: api.maxSseClients is enforced; the next client gets 503 TOO_MANY_CLIENTS with Retry-After. */
t.test('api.maxSseClients: the next event-stream client gets 503 with Retry-After; a freed place is taken again', async (t) => {
  const rig = await boxRig({}, { api: { maxSseClients: 3 } })
  t.teardown(() => rig.stop())
  const open: SseReader[] = []
  t.teardown(() => open.forEach((s) => s.close()))
  for (let i = 0; i < 3; i++) {
    const s = await SseReader.open(`${rig.api}/v1/events`)
    t.equal(s.status, 200, `client ${i + 1} admitted`)
    open.push(s)
  }
  const r = await fetch(`${rig.api}/v1/events`)
  t.equal(r.status, 503, 'the fourth is refused')
  t.equal(r.headers.get('retry-after'), '5')
  t.match(r.headers.get('content-type'), /^application\/json/)
  const body = await r.json()
  t.equal(body.error.code, 'TOO_MANY_CLIENTS')
  t.equal(body.error.limit, 3)
  t.match(body.error.message, /3 event-stream clients are connected \(api\.maxSseClients\)/)
  // the admitted ones still get events
  t.equal((await boxPost(`${rig.ingest}/upload_record`, { cmd: 'channelstatus', satellite: MAC, status: statusJson([2]) })).status, 200)
  for (const s of open) await s.next((e) => e.event === 'channel')

  open.shift()!.close()
  // the server sees the close a moment later than the client: retry like EventSource would
  let again: SseReader | null = null
  for (let i = 0; i < 100 && !again; i++) {
    const s = await SseReader.open(`${rig.api}/v1/events`)
    if (s.status === 200) again = s
    else {
      s.close()
      await new Promise((res) => setTimeout(res, 20))
    }
  }
  t.ok(again, 'a new client is admitted once one closed')
  open.push(again!)
  const m = await (await fetch(`${rig.api}/metrics`)).text()
  t.match(m, /telbridge_sse_refused_total [1-9]/)
  t.equal((await getJson(`${rig.api}/v1/health`)).status, 200, 'other routes are not affected')
})
