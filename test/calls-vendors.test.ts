import t from 'tap'
import { daemonRig, startGuoxin, startLqVack, startYantong } from './helpers/rig.js'
import { getJson, until } from './helpers/sse.js'

/** One daemon, the three vendor simulators behind it: a dial through POST /v1/calls reaches each. */
t.test('a dial via POST /v1/calls reaches each vendor simulator', async (t) => {
  const [{ sim: lqv }, { sim: gx }, { sim: yt }] = await Promise.all([
    startLqVack({ channels: 8, agents: ['801', '802'], answerMs: 50, talkMs: 0 }, t),
    startGuoxin({ extensions: ['8001', '8002'], supervisors: ['8002'], ringMs: 50, talkMs: 0 }, t),
    startYantong({ staff: ['8001', '8002'], ringMs: 50, talkMs: 0 }, t),
  ])
  const { daemon, api: apiUrl } = await daemonRig(
    {
      sources: [
        { id: 'lqv', type: 'lq-vack', url: lqv.url, secret: 'lcall', pollMs: 100 },
        { id: 'gx', type: 'guoxin', url: gx.url, pollMs: 100 },
        { id: 'yt', type: 'yantong', url: yt.url, companyid: 8, auth: 'yantong-demo', staff: ['8001', '8002'], pollMs: 100, cdrPollMs: 0 },
      ],
    },
    { t },
  )
  await until(() => [...daemon.sources.values()].every((s) => s.status === 'connected'), 5000, 'all sources connected')

  const dial = async (source: string, agent: string, phone: string) => {
    const r = await fetch(`${apiUrl}/v1/calls`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source, agent, phone }) })
    return { status: r.status, body: (await r.json()) as any }
  }

  const a = await dial('lqv', '801', '02586307627')
  t.equal(a.status, 202, JSON.stringify(a.body))
  t.match(a.body, { accepted: true, source: 'lqv', action: 'dial' })
  const va = lqv.requests.filter((r) => r.voId === 'callauto').at(-1)
  t.ok(va, 'callauto reached the LQ vack simulator')
  t.match(va?.fields, { vo_id: 'callauto', _secs_: 'lcall' })
  t.match(JSON.stringify(va?.fields), /02586307627/)
  t.match(JSON.stringify(va?.fields), /801/)

  const b = await dial('gx', '8001', '13800000000')
  t.equal(b.status, 202, JSON.stringify(b.body))
  t.match(gx.requestsFor('CLICK_TO_DIAL').at(-1)?.params, { opt: 'CLICK_TO_DIAL', caller: '8001', callee: '13800000000' })

  const c = await dial('yt', '8002', '13900000000')
  t.equal(c.status, 202, JSON.stringify(c.body))
  t.match(yt.sent('SendDial').at(-1)?.params, { staffid: '8002', phonenum: '13900000000' })

  // each source says what it supports; GET /v1/queues merges whatever the sources report
  const src = (await getJson(`${apiUrl}/v1/sources`)).body.sources as { id: string; supports: string[] }[]
  for (const s of src) t.ok(s.supports.includes('dial'), `${s.id} lists dial`)
  const q = await getJson(`${apiUrl}/v1/queues`)
  t.equal(q.status, 200)
  t.ok(Array.isArray(q.body.queues))
  t.ok(
    q.body.queues.every((x: any) => typeof x.source === 'string'),
    'each queue names its source',
  )
})
