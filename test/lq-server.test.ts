import t from 'tap'
import { connect, type Socket } from 'node:net'
import iconv from 'iconv-lite'
import { LqConnectDecoder, encodeRegistration, encodeTryRep, registrationAgent, type Frame } from '../protocols/lq-connect/index.js'
import { rig } from './helpers/daemon.js'
import { until } from './helpers/sse.js'

/** A legacy desktop client: registers, answers TRY_REQ (unless told not to), collects pops. */
async function legacyClient(port: number, oper: string | null, opts: { answer?: boolean; framing?: 'length' | 'raw' } = {}) {
  const socket: Socket = connect(port, '127.0.0.1')
  await new Promise<void>((res) => socket.once('connect', () => res()))
  const pops: string[] = []
  let tryReqs = 0
  const dec = new LqConnectDecoder()
  socket.on('data', (c) =>
    dec.write(
      c,
      (f: Frame) => {
        if (f.type === 'handshake') {
          tryReqs++
          if (opts.answer !== false) socket.write(encodeTryRep())
        } else pops.push(iconv.decode(f.payload, 'gbk'))
      },
      () => {},
    ),
  )
  let closed = false
  socket.on('close', () => (closed = true))
  socket.on('error', () => {})
  if (oper !== null) socket.write(encodeRegistration({ template: 'oper={oper},ch={ch};', framing: opts.framing ?? 'length', oper, ch: '-1' }))
  return {
    socket,
    pops,
    get tryReqs() {
      return tryReqs
    },
    get closed() {
      return closed
    },
  }
}

t.test('registration text → agent', async (t) => {
  t.equal(registrationAgent('oper=801,ch=-1;'), '801')
  t.equal(registrationAgent('op=802'), '802')
  t.equal(registrationAgent('803,-1'), '803')
  t.equal(registrationAgent('???'), null)
})

t.test('legacy clients get the pops of their agent, or all; silent ones are dropped', async (t) => {
  const r = await rig({ agents: ['801', '802'], config: { lqServer: { port: 0, checkSeconds: 0.05, expireSeconds: 0.3 } } })
  t.teardown(() => r.stop())
  const port = r.daemon.lqServer!.port
  const a801 = await legacyClient(port, '801')
  const a802 = await legacyClient(port, '802')
  const all = await legacyClient(port, null)
  const raw803 = await legacyClient(port, '803', { framing: 'raw' })
  t.teardown(() => [a801, a802, all, raw803].forEach((c) => c.socket.destroy()))
  await until(() => r.daemon.lqServer!.list().filter((c) => c.agent).length === 3, 2000, 'three registered clients, one raw')
  t.ok(
    r.daemon.lqServer!.list().some((c) => c.agent === '803'),
    'a raw registration is understood',
  )
  const p801 = 'H=t1v5,ch=1,ph=13800000001,ty=1,tm=081123101500,op=801,sn=1,so=0,mb=0,da=城市:南京,dm=0;'
  const p802 = 'H=t1v3,ch=2,ph=13800000002,id=2,tm=081123101500,op=802,sn=2,dm=0;'
  r.sim.sendPop(p801, '801')
  r.sim.sendPop(p802, '802')
  await until(() => all.pops.length === 2, 2000, 'the unregistered client gets all pops')
  await until(() => a801.pops.length === 1 && a802.pops.length === 1, 2000)
  t.same(a801.pops, [p801], 'the original GBK bytes, Chinese intact')
  t.same(a802.pops, [p802])
  t.same(raw803.pops, [], 'agent 803 gets neither')
  t.same(all.pops.sort(), [p801, p802].sort())
  await until(() => a801.tryReqs >= 2, 2000, 'TRY_REQ on the check interval')
  // a client that never answers TRY_REQ is dropped after expireSeconds
  const mute = await legacyClient(port, '801', { answer: false })
  await until(() => mute.closed, 3000, 'silent client dropped')
  t.notOk(a801.closed, 'answering clients stay')
  const m = await (await fetch(`${r.url}/metrics`)).text()
  t.match(m, /telbridge_lqserver_clients 4/)
})
