import t from 'tap'
import { VendorRefused, VendorTimeout } from '../daemon/core/control.js'
import type { VendorAction } from '../daemon/core/actions.js'
import { BaseSource, sourceMetrics, type SourceContext } from '../daemon/core/source.js'
import { daemonRig, postJson, quietLog } from './helpers/rig.js'
import { getJson } from './helpers/sse.js'

/** A source whose vendor functions are scripted: what the framework does around them is under test. */
class ScriptedSource extends BaseSource {
  readonly type = 'scripted'
  calls: Record<string, number> = {}
  constructor(id: string, ctx: SourceContext) {
    super(id, ctx)
  }
  start(): void {
    this.setStatus('connected')
  }
  async stop(): Promise<void> {
    this.setStatus('stopped')
  }
  private count(name: string): number {
    return (this.calls[name] = (this.calls[name] ?? 0) + 1)
  }
  vendorActions(): VendorAction[] {
    return [
      {
        name: 'getThing',
        description: 'asks for a thing',
        kind: 'query',
        params: [
          { name: 'oper', type: 'string', required: true, description: 'the agent (工号)', pattern: /^\d{1,8}$/, patternText: 'an agent number' },
          { name: 'page', type: 'integer', description: 'page number', min: 1, max: 99, default: 1 },
          { name: 'if_wait', type: 'boolean', description: 'wait for it' },
          { name: 'tts', type: 'string', description: 'text to speak', maxLength: 10 },
        ],
        run: async (p) => {
          this.count('getThing')
          return { result: { echo: p }, vendor: { code: 0 } }
        },
      },
      { name: 'refuseMe', description: 'always refused', kind: 'control', params: [], run: async () => Promise.reject(new VendorRefused(this.id, 'E12', '通道无效')) },
      {
        name: 'slowQuery',
        description: 'a query whose first two tries time out',
        kind: 'query',
        params: [],
        run: async () => {
          if (this.count('slowQuery') < 3) throw new VendorTimeout(this.id, 10, 'test')
          return { result: 'third time' }
        },
      },
      {
        name: 'slowControl',
        description: 'a control that times out',
        kind: 'control',
        params: [],
        run: async () => {
          this.count('slowControl')
          throw new VendorTimeout(this.id, 10, 'test')
        },
      },
    ]
  }
}

t.test('vendor actions: list, run, validate, refuse, time out, retry only queries, publish call events', async (t) => {
  const r = await daemonRig({}, { t, sse: true })
  const ctx: SourceContext = { log: quietLog(), table: r.daemon.table, bus: r.daemon.bus, pops: r.daemon.pops, metrics: sourceMetrics(r.daemon.metrics) }
  const src = new ScriptedSource('s1', ctx)
  r.daemon.sources.add(src)
  src.start()

  const list = await getJson(`${r.api}/v1/sources/s1/actions`)
  t.equal(list.status, 200)
  t.same(
    list.body.actions.map((a: { name: string; kind: string }) => [a.name, a.kind]),
    [
      ['getThing', 'query'],
      ['refuseMe', 'control'],
      ['slowQuery', 'query'],
      ['slowControl', 'control'],
    ],
  )
  t.match(list.body.actions[0].params[0], { name: 'oper', type: 'string', required: true, description: 'the agent (工号)', pattern: '^\\d{1,8}$' })
  t.match(list.body.actions[0].params[1], { name: 'page', type: 'integer', required: false, min: 1, max: 99, default: 1 })
  t.equal((await getJson(`${r.api}/v1/sources/nope/actions`)).status, 404, 'unknown source')
  t.same((await getJson(`${r.api}/v1/sources/s1/actions`)).body.source, 's1')

  const ok = await postJson(`${r.api}/v1/sources/s1/actions/getThing`, { oper: '801', page: '2', if_wait: 'true', tts: '您好' })
  t.equal(ok.status, 200)
  t.match(ok.body, { source: 's1', action: 'getThing', result: { echo: { oper: '801', page: 2, if_wait: true, tts: '您好' } }, vendor: { code: 0 } })
  t.match(ok.body.requestId, /^[0-9a-f-]{36}$/)
  await r.sse!.count('call', 2)
  t.match(
    r.sse!.events.filter((e) => e.event === 'call').map((e) => (e.data as { phase: string }).phase),
    ['requested', 'accepted'],
  )

  const bad: [unknown, string, RegExp][] = [
    [{}, 'oper', /oper: expected the agent \(工号\) \(required\)/],
    [{ oper: 'x1' }, 'oper', /oper: expected an agent number, got "x1"/],
    [{ oper: '801', page: 0 }, 'page', /page: expected a whole number from 1 to 99, got number 0/],
    [{ oper: '801', page: 1.5 }, 'page', /page: expected a whole number from 1 to 99/],
    [{ oper: '801', if_wait: 'maybe' }, 'if_wait', /if_wait: expected true or false/],
    [{ oper: '801', tts: '一二三四五六七八九十一' }, 'tts', /tts: expected at most 10 characters/],
    [{ oper: '801', tts: 'a\u0000b' }, 'tts', /tts: expected text without control characters/],
    [{ oper: '801', nope: 1 }, 'nope', /nope: expected no such field for getThing \(known: oper, page, if_wait, tts\)/],
  ]
  for (const [body, field, msg] of bad) {
    const res = await postJson(`${r.api}/v1/sources/s1/actions/getThing`, body)
    t.equal(res.status, 400, JSON.stringify(body))
    t.equal(res.body.error.code, 'BAD_REQUEST')
    t.equal(res.body.error.field, field)
    t.match(res.body.error.message, msg)
  }
  const arr = await postJson(`${r.api}/v1/sources/s1/actions/getThing`, [1, 2])
  t.equal(arr.status, 400, 'an array body')
  t.equal(src.calls.getThing, 1, 'nothing bad reached the vendor')

  const unknown = await postJson(`${r.api}/v1/sources/s1/actions/frobnicate`, {})
  t.equal(unknown.status, 404)
  t.match(unknown.body.error.message, /action frobnicate of source s1 \(known: getThing, refuseMe, slowQuery, slowControl\)/)
  t.same(unknown.body.error.known, ['getThing', 'refuseMe', 'slowQuery', 'slowControl'])

  const refused = await postJson(`${r.api}/v1/sources/s1/actions/refuseMe`, {})
  t.equal(refused.status, 502)
  t.match(refused.body.error, { code: 'VENDOR_REFUSED', vendor: { code: 'E12', message: '通道无效' } })

  const slowQ = await postJson(`${r.api}/v1/sources/s1/actions/slowQuery`, {})
  t.equal(slowQ.status, 200, 'a query is asked again after a timeout')
  t.equal(slowQ.body.result, 'third time')
  t.equal(src.calls.slowQuery, 3)

  const slowC = await postJson(`${r.api}/v1/sources/s1/actions/slowControl`, {})
  t.equal(slowC.status, 504, 'a control that timed out is 504')
  t.equal(src.calls.slowControl, 1, 'and never sent twice')

  const phases = r.sse!.events.filter((e) => e.event === 'call').map((e) => e.data as { action: string; phase: string })
  t.ok(
    phases.some((p) => p.action === 'refuseMe' && p.phase === 'refused'),
    'a refusal is a call event',
  )
  t.ok(
    phases.some((p) => p.action === 'slowControl' && p.phase === 'timeout'),
    'a timeout is a call event',
  )

  await src.stop()
  const down = await postJson(`${r.api}/v1/sources/s1/actions/getThing`, { oper: '801' })
  t.equal(down.status, 503, 'a stopped source is not asked')
  t.equal(src.calls.getThing, 1)

  const noRec = await getJson(`${r.api}/v1/sources/s1/recordings/abc`)
  t.equal(noRec.status, 422, 'a source without vendor-held recordings')
  t.equal((await getJson(`${r.api}/v1/sources/nope/recordings/abc`)).status, 404)
})
