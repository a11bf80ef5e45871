import t from 'tap'
import { BoxSimulator, type SimUpload } from '../devices/800hu/simulator.js'
import { daemonRig, postJson, type DaemonRig } from './helpers/rig.js'
import { boxPost } from './helpers/boxes.js'
import { until } from './helpers/sse.js'

/** 八百呼 boxes in the call log: the live status and the box's upload of the same call are one record, over real HTTP with the box simulator. */

const MAC = '00:00:00:00:00:0b'
const SOURCE = '800hu-00000000000b'

interface Row {
  id: string
  channel: string | null
  direction: string | null
  phone: string | null
  disposition: string
  talk_s: number | null
  recordings: string | null
  vendor_ids: string | null
  memo: string | null
  inputs: string
}
const rows = (r: DaemonRig) => r.daemon.db!.prepare('SELECT * FROM calls WHERE source = ? ORDER BY started_ms').all(SOURCE) as Row[]

t.test('each box call (answered, missed, outbound not answered, commanded with a memo) is one record with the box callid and its recording', async (t) => {
  const r = await daemonRig({ timeZone: 'Asia/Shanghai', boxes: { allow: [MAC], longPollSeconds: 1 } }, { t, ingest: true, sse: true })
  const sim = new BoxSimulator({ target: r.ingest!, mac: MAC, channels: 3, intervalSeconds: 0.3, callRate: 0, ringSeconds: [0.4, 0.4], talkSeconds: [1.2, 1.2] })
  const uploads: SimUpload[] = []
  sim.on('upload', (u: SimUpload) => uploads.push(u))
  sim.start()
  t.teardown(() => sim.stop())
  await until(() => r.daemon.table.lookup(SOURCE, '1')?.state === 'idle', 5000, 'the box is seen')

  t.ok(sim.ring(1, '13800138000', true), 'an inbound call, answered')
  t.ok(sim.ring(2, '02512345678', false), 'an inbound call nobody answers')
  t.ok(sim.dial(3, '13900000000', { answer: false }), 'an outbound call not answered')
  await until(() => uploads.filter((u) => u.ok).length === 3, 8000, 'three uploads acknowledged')
  const done = await until(() => (rows(r).length === 3 && rows(r).every((x) => x.inputs.includes('upload')) ? rows(r) : null), 5000, 'three records, each with its upload')
  const by = (ch: string) => done.find((x) => x.channel === ch)!
  const up = (ch: number) => uploads.find((u) => u.channel === ch)!

  t.match(by('1'), { direction: 'inbound', phone: '13800138000', disposition: 'answered', inputs: 'line,upload' })
  t.ok(by('1').talk_s! >= 1 && by('1').talk_s! <= 2, `talk ${by('1').talk_s} s`)
  t.equal(JSON.parse(by('1').vendor_ids!).callid, up(1).callid, 'the box callid')
  t.match(JSON.parse(by('1').recordings!), [{ kind: 'local', id: up(1).callid }])

  t.match(by('2'), { direction: 'inbound', disposition: 'missed', talk_s: 0, recordings: null, inputs: 'line,upload' })
  t.equal(JSON.parse(by('2').vendor_ids!).callid, up(2).callid, 'the box callid')

  t.match(by('3'), { direction: 'outbound', disposition: 'failed', talk_s: 0, recordings: null, inputs: 'line,upload' }, "the box's 未接 (unkown) on an outbound call: failed, one record")
  t.equal(JSON.parse(by('3').vendor_ids!).callid, up(3).callid, 'the box callid')

  const ended = r.sse!.events.filter((e) => e.event === 'call.ended')
  t.equal(ended.length, 3, 'one call.ended per call')

  // a dial through the API with a memo: the box obeys; the memo (paramvalue) is the record's
  const res = await postJson(`${r.api}/v1/calls`, { source: SOURCE, phone: '13700001111', channel: '1', memo: 'order-42' })
  t.equal(res.status, 202, JSON.stringify(res.body))
  const memo = await until(() => rows(r).find((x) => x.phone === '13700001111' && x.inputs.includes('upload')), 10_000, 'the commanded call recorded')
  t.match(memo, { memo: 'order-42', direction: 'outbound', disposition: 'answered' })
  t.equal(rows(r).length, 4, 'still one record per call')

  // a call the box uploads that telbridge never saw live (it was down): a record of its own; the same upload again adds nothing
  const start = Math.floor(Date.now() / 1000) - 3600
  const old = {
    cmd: 'upload',
    satellite: MAC,
    channel: '2',
    start_time_secs: String(start),
    start_time_hangup: String(start + 20),
    direction: 'unkown',
    callid_dialed: '02588889999',
    duration_secs: '0',
    id: '900',
    recorded: '0',
    callid: '1700000000000000901',
  }
  t.equal((await boxPost(`${r.ingest}/upload_record`, old)).body.status, 0)
  const only = await until(() => rows(r).find((x) => x.phone === '02588889999'), 5000, 'the upload-only call')
  t.match(only, { inputs: 'upload', disposition: 'missed', channel: '2', talk_s: 0 })
  t.equal(JSON.parse(only.vendor_ids!).callid, '1700000000000000901')
  t.equal((await boxPost(`${r.ingest}/upload_record`, old)).body.status, 0, 'acknowledged again')
  await new Promise((res) => setTimeout(res, 300))
  t.equal(rows(r).length, 5, 'the repeated upload added no record')
})
