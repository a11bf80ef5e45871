import t from 'tap'
import { daemonRig, type DaemonRig } from './helpers/rig.js'
import { getJson, until } from './helpers/sse.js'

/** GET /v1/agents, /v1/agents/:id and `agent` events over real HTTP: presence from the table and from vendors, restart. */

interface AgentJson {
  id: string
  source: string
  agent: string
  name: string | null
  channels: string[]
  presence: string
  loggedIn: boolean | null
  currentCall: { id: string; phone: string | null } | null
  lastSeenAt: string
}

async function agent(r: DaemonRig, id: string): Promise<AgentJson> {
  const res = await getJson(`${r.api}/v1/agents/${encodeURIComponent(id)}`)
  if (res.status !== 200) throw new Error(`${id}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body as AgentJson
}

const agentEvents = (r: DaemonRig, id: string) => r.sse!.events.filter((e) => e.event === 'agent' && (e.data as { id: string }).id === id).map((e) => e.data as Record<string, unknown>)
const tick = () => new Promise((res) => setTimeout(res, 30))

t.test('presence follows the table; the current call is the live one; events only on a visible change', async (t) => {
  const r = await daemonRig({}, { t, sse: true })
  const tb = r.daemon.table
  tb.update('lq', '2', { state: 'idle', agent: '801' })
  await until(() => agentEvents(r, 'lq:801').length === 1)
  t.match(await agent(r, 'lq:801'), { id: 'lq:801', source: 'lq', agent: '801', channels: ['lq:2'], presence: 'idle', loggedIn: null, currentCall: null })

  tb.update('lq', '2', { state: 'ringing', phone: '13800138000', direction: 'inbound' })
  await until(() => agentEvents(r, 'lq:801').length === 2)
  const busy = await agent(r, 'lq:801')
  t.equal(busy.presence, 'busy')
  t.match(busy.currentCall, { phone: '13800138000' })
  t.match(agentEvents(r, 'lq:801')[1], { presence: 'busy', currentCallId: busy.currentCall!.id })
  t.notOk('currentCall' in agentEvents(r, 'lq:801')[1]!, 'the event carries the call id, not the call')

  tb.update('lq', '2', { state: 'talking' })
  // a field of the line that is not the agent's (talk time, vendor detail) publishes no agent event
  for (let i = 0; i < 5; i++) tb.update('lq', '2', { vendor: { timelen: i } })
  await tick()
  t.equal(agentEvents(r, 'lq:801').length, 2, 'ringing → talking and talk-time ticks: still busy on the same call')

  tb.update('lq', '2', { state: 'idle' })
  await until(() => agentEvents(r, 'lq:801').length === 3)
  t.match(await agent(r, 'lq:801'), { presence: 'idle', currentCall: null })
  tb.update('lq', '2', { state: 'offline' })
  await until(() => agentEvents(r, 'lq:801').length === 4)
  t.equal((await agent(r, 'lq:801')).presence, 'offline')

  // hot desk: another agent on the channel takes it from the first
  tb.update('lq', '2', { state: 'idle', agent: '802' })
  await until(() => agentEvents(r, 'lq:802').length === 1)
  t.match(await agent(r, 'lq:802'), { channels: ['lq:2'], presence: 'idle' })
  await until(async () => (await agent(r, 'lq:801')).channels.length === 0)
  t.equal((await agent(r, 'lq:801')).presence, 'unknown', 'no channel known: unknown')
})

t.test("vendor presence and logged-in state win; a source's complete list marks the missing offline", async (t) => {
  const r = await daemonRig({}, { t, sse: true })
  const sink = r.daemon.calls
  sink.agent({ source: 'vk', agent: '900', name: '张三', presence: 'away', loggedIn: true, channels: ['7'] })
  sink.agent({ source: 'vk', agent: '901', presence: 'idle', loggedIn: true })
  r.daemon.table.update('vk', '7', { state: 'talking', agent: '900' })
  await until(() => agentEvents(r, 'vk:900').length >= 1)
  t.match(await agent(r, 'vk:900'), { name: '张三', presence: 'away', loggedIn: true, channels: ['vk:7'] })
  // a report of a call by that agent without a channel is still its current call
  void sink.report({ source: 'vk', input: 'push', agent: '901', phone: '02112345678', startedAt: Date.now(), final: false })
  await until(async () => (await agent(r, 'vk:901')).currentCall !== null)

  sink.agents!('vk', [{ source: 'vk', agent: '901', presence: 'busy', loggedIn: true }])
  await until(async () => (await agent(r, 'vk:900')).presence === 'offline')
  t.equal((await agent(r, 'vk:901')).presence, 'busy')

  const list = await getJson(`${r.api}/v1/agents`)
  t.equal(list.status, 200)
  t.same(
    (list.body as { agents: AgentJson[] }).agents.map((a) => a.id),
    ['vk:900', 'vk:901'],
  )
  const offline = (await getJson(`${r.api}/v1/agents?presence=offline`)).body as { agents: AgentJson[] }
  t.same(
    offline.agents.map((a) => a.id),
    ['vk:900'],
  )
  t.same(((await getJson(`${r.api}/v1/agents?source=nope`)).body as { agents: unknown[] }).agents, [])
  const bad = await getJson(`${r.api}/v1/agents?presence=asleep`)
  t.equal(bad.status, 400)
  t.match(bad.body, { error: { code: 'BAD_QUERY', message: /presence/ } })
})

t.test('a bare agent id: one source → that agent, two → 409 naming both, none → 404', async (t) => {
  const r = await daemonRig({}, { t })
  r.daemon.calls.agent({ source: 'lq', agent: '801' })
  r.daemon.calls.agent({ source: 'yt', agent: '801' })
  r.daemon.calls.agent({ source: 'yt', agent: '8002' })
  t.equal((await agent(r, '8002')).id, 'yt:8002')
  t.equal((await agent(r, 'lq:801')).id, 'lq:801')
  const two = await getJson(`${r.api}/v1/agents/801`)
  t.equal(two.status, 409)
  t.match(two.body, { error: { code: 'CONFLICT', message: /lq:801, yt:801/, ids: ['lq:801', 'yt:801'] } })
  const none = await getJson(`${r.api}/v1/agents/999`)
  t.equal(none.status, 404)
  t.match(none.body, { error: { code: 'NOT_FOUND', message: 'agent "999" not found' } })
})

t.test('a restart keeps the agents (name, channels); presence waits for the sources', async (t) => {
  const r = await daemonRig({}, { t })
  r.daemon.calls.agent({ source: 'gx', agent: '8001', name: '李四', presence: 'busy', loggedIn: true, channels: ['8001'] })
  r.daemon.table.update('lq', '5', { state: 'idle', agent: '805' })
  await until(async () => (await getJson(`${r.api}/v1/agents`)).body && ((await getJson(`${r.api}/v1/agents`)).body as { agents: unknown[] }).agents.length === 2)
  const dir = r.dir!
  await r.daemon.stop()
  const r2 = await daemonRig({ dataDir: dir }, { t })
  t.match(await agent(r2, 'gx:8001'), { name: '李四', channels: ['gx:8001'], presence: 'unknown', loggedIn: null, currentCall: null })
  t.match(await agent(r2, 'lq:805'), { channels: ['lq:5'], presence: 'unknown' })
  r2.daemon.table.update('lq', '5', { state: 'idle', agent: '805' })
  await until(async () => (await agent(r2, 'lq:805')).presence === 'idle')
  await r2.stop()
})
