import t, { type Test } from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CALL_ACTIONS, UnsupportedAction, type ActionTable, type CallRequest } from '../daemon/core/control.js'
import { BaseSource, type SourceContext, type SourceStatus } from '../daemon/core/source.js'
import { BoxSimulator } from '../devices/800hu/simulator.js'
import { buildDoubleOrSkip, writeScript } from '../native/test-double/build.js'
import { daemonRig, postJson, startGuoxin, startLqSocket, startLqVack, startYantong, type DaemonRig } from './helpers/rig.js'
import type { SseEvent } from './helpers/sse.js'
import { until } from './helpers/sse.js'

/**
 * The source contract, run against every source kind through its simulator over real HTTP/TCP on
 * 127.0.0.1: status lifecycle (connecting → connected → lost → connected after the vendor comes
 * back on the same port), what channels show while the link is lost, `stop()` twice, call control
 * errors (unsupported 422, refused 502 with the vendor's code, no answer 504) and the `source` /
 * `channel` events on /v1/events.
 */

const dir = await mkdtemp(join(tmpdir(), 'tb-contract-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const double = await buildDoubleOrSkip(dir)

type Route = [path: string, body: Record<string, unknown>]

interface Contract {
  rig: DaemonRig
  id: string
  /** make at least one channel of the source exist (LQ kinds learn channels from pops) */
  channel?(): Promise<void> | void
  /** take the vendor away (kill the simulator, end the link) */
  lose(): Promise<void>
  /** bring it back, on the same port */
  restore(): Promise<void>
  /** statuses the kind reports once the vendor is gone */
  lost: SourceStatus[]
  /** what every channel of the source shows while the vendor is gone; 'kept': the states stay as they were */
  whileLost: 'unknown' | 'offline' | 'kept'
  /** pops only: a channel is known again at its next pop (this sends one), not at reconnection */
  popAgain?(): Promise<void> | void
  /** null: the kind only observes; every control action is 422 */
  control: null | {
    accepted: Route
    unsupported: Route
    refused: { route: Route; vendorCode: string | number; prepare?(): void } | null
    /** the vendor holds requests while `hold(true)` */
    timeout: { route: Route; hold(on: boolean): void } | null
  }
}

interface Kind {
  name: string
  skip?: string | false
  setup(t: Test): Promise<Contract>
}

// small timeouts keep each kind to a few seconds
const POLLED = { pollMs: 100, timeoutMs: 300, downAfter: 2 }
const POP = 'H=t1v2,ch=1,ph=86307627,id=12157703713752,tm=080711175931,dm=0;'

const KINDS: Kind[] = [
  {
    name: 'lq-socket',
    async setup(t) {
      const h = await startLqSocket({}, t)
      const rig = await daemonRig({ sources: [{ id: 'src', type: 'lq-socket', host: '127.0.0.1', port: h.port, oper: '801', reconnectSeconds: 0.1 }] }, { sse: 'all', t })
      await until(() => [...h.sim.clients].some((c) => c.registration !== null), 5000, 'registration')
      return {
        rig,
        id: 'src',
        channel: () => h.sim.sendPop(POP),
        lose: () => h.kill(),
        restore: async () => void (await h.restart()),
        lost: ['reconnecting', 'failed'],
        whileLost: 'unknown',
        popAgain: () => h.sim.sendPop(POP),
        control: null,
      }
    },
  },
  {
    name: 'lq-dll',
    skip: double.noCompiler,
    async setup(t) {
      // the double's link ends (-201) once `go` exists; the source restarts it by itself; a pop follows once `go2` exists
      const go = join(dir, 'go')
      // state: the script's cursor survives the new host process the source starts after -201
      const script = await writeScript(join(dir, 'script.txt'), [`state ${join(dir, 'state')}`, `pop ${POP}`, `gate ${go}`, 'code -201', `gate ${go}2`, `pop ${POP}`])
      const rig = await daemonRig({ sources: [{ id: 'src', type: 'lq-dll', library: double.lib, host: script, oper: '801', pollMs: 10, reconnectSeconds: 0.3 }] }, { sse: 'all', t })
      return {
        rig,
        id: 'src',
        lose: () => writeFile(go, ''),
        restore: async () => {},
        lost: ['reconnecting', 'failed'],
        whileLost: 'unknown',
        popAgain: () => writeFile(`${go}2`, ''),
        control: null,
      }
    },
  },
  {
    name: 'lq-vack',
    async setup(t) {
      const h = await startLqVack({}, t)
      const rig = await daemonRig(
        { sources: [{ id: 'src', type: 'lq-vack', url: h.sim.url, secret: 'lcall', ...POLLED, operPollMs: 100, queuePollMs: 0, queryAttempts: 1, callback: { enabled: false } }] },
        { sse: 'all', t },
      )
      return {
        rig,
        id: 'src',
        lose: () => h.kill(),
        restore: async () => void (await h.restart()),
        lost: ['down'],
        whileLost: 'unknown',
        control: {
          accepted: ['/v1/calls', { agent: '801', phone: '02586307627' }],
          // LQ three-way brings in another agent, never an outside number
          unsupported: ['/v1/calls/conference', { agent: '801', phone: '13900000000' }],
          // 801 is in no call
          refused: { route: ['/v1/calls/hangup', { agent: '801' }], vendorCode: 'error' },
          timeout: { route: ['/v1/calls', { agent: '801', phone: '1' }], hold: (on) => void (h.sim.silent = on) },
        },
      }
    },
  },
  {
    name: 'guoxin',
    async setup(t) {
      const h = await startGuoxin({}, t)
      const rig = await daemonRig({ sources: [{ id: 'src', type: 'guoxin', url: h.sim.url, ...POLLED }] }, { ingest: true, sse: 'all', t })
      return {
        rig,
        id: 'src',
        lose: () => h.kill(),
        restore: async () => void (await h.restart()),
        lost: ['down'],
        whileLost: 'unknown',
        control: {
          accepted: ['/v1/calls', { agent: '801', phone: '02586307627' }],
          unsupported: ['/v1/calls/dtmf', { agent: '801', digits: '1' }],
          refused: { route: ['/v1/calls/transfer', { agent: '801', target: '802' }], vendorCode: 480, prepare: () => h.sim.failNext('CLICK_TO_TRANSFER', 480) },
          timeout: { route: ['/v1/calls', { agent: '801', phone: '1' }], hold: (on) => void (h.sim.silent = on) },
        },
      }
    },
  },
  {
    name: 'yantong',
    async setup(t) {
      const h = await startYantong({}, t)
      const rig = await daemonRig(
        { sources: [{ id: 'src', type: 'yantong', url: h.sim.url, companyid: 8, auth: 'yantong-demo', staff: ['8001', '8002'], cdrPollMs: 0, queryAttempts: 1, ...POLLED }] },
        { sse: 'all', t },
      )
      return {
        rig,
        id: 'src',
        lose: () => h.kill(),
        restore: async () => void (await h.restart()),
        lost: ['down'],
        whileLost: 'unknown',
        control: {
          accepted: ['/v1/calls', { agent: '8001', phone: '02586307627' }],
          unsupported: ['/v1/calls/transfer', { agent: '8001', target: '8002' }],
          // errno 5: the agent is not logged in
          refused: { route: ['/v1/calls', { agent: '8002', phone: '1' }], vendorCode: 5, prepare: () => h.sim.loggedOut.add('8002') },
          timeout: { route: ['/v1/calls', { agent: '8001', phone: '1' }], hold: (on) => void (h.sim.silent = on) },
        },
      }
    },
  },
  {
    name: '800hu box',
    async setup(t) {
      const MAC = '00:00:00:00:00:0c'
      const rig = await daemonRig({ boxes: { allow: [MAC], offlineSeconds: 0.5, longPollSeconds: 1 } }, { ingest: true, dataDir: true, sse: 'all', t })
      // the box is the client here: it posts to our ingest listener
      const sim = new BoxSimulator({ target: rig.ingest!, mac: MAC, channels: 2, intervalSeconds: 0.2, callRate: 0, upload: false, pollTimeoutSeconds: 2 })
      sim.start()
      t.teardown(() => sim.stop())
      return {
        rig,
        id: '800hu-00000000000c',
        lose: () => sim.stop(),
        restore: async () => sim.start(),
        lost: ['down'],
        whileLost: 'offline',
        control: {
          accepted: ['/v1/calls', { channel: '1', phone: '13912345678' }],
          unsupported: ['/v1/calls/transfer', { channel: '1', phone: '1' }],
          // a box takes commands from a queue at its next poll: it never refuses nor times out a request
          refused: null,
          timeout: null,
        },
      }
    },
  },
]

const statuses = (events: SseEvent[], id: string): string[] => events.filter((e) => e.event === 'source' && (e.data as { id: string }).id === id).map((e) => (e.data as { status: string }).status)

for (const kind of KINDS) {
  t.test(kind.name, { skip: kind.skip }, async (t) => {
    const c = await kind.setup(t)
    const { rig, id } = c
    const sse = rig.sse!
    const src = rig.daemon.sources.get(id)!
    const info = async () => (await fetch(`${rig.api}/v1/sources/${id}`).then((r) => r.json())) as { status: string; source?: { status: string } }
    const statusOf = async () => {
      const b = await info()
      return (b.source ?? b).status
    }

    // ---- lifecycle: connecting → connected, with events
    await sse.next((e) => e.event === 'source' && (e.data as any).id === id && (e.data as any).status === 'connected', 5000)
    t.equal(statuses(sse.events, id)[0], 'connecting', 'the first status is connecting')
    t.equal(await statusOf(), 'connected', 'GET /v1/sources/:id says connected')
    await c.channel?.()
    const ch = await sse.next((e) => e.event === 'channel' && (e.data as any).source === id, 5000)
    t.ok(ch, 'channel events are published')
    await until(() => rig.daemon.table.countBySource(id) > 0, 5000, 'channels in the table')

    // ---- call control; supports lists what the action table holds
    const supports = ((await info()) as any as { supports: string[] }).supports
    if (!c.control) {
      t.notOk(
        supports.some((a) => (CALL_ACTIONS as readonly string[]).includes(a)),
        `no call action in supports: ${supports.join(', ')}`,
      )
      for (const [path, body] of [
        ['/v1/calls', { agent: '801', phone: '1' }],
        ['/v1/calls/hangup', { agent: '801' }],
      ] as Route[]) {
        const res = await postJson(`${rig.api}${path}`, { source: id, ...body })
        t.equal(res.status, 422, `${path}: an observing source refuses control`)
        t.match(res.body.error, { code: 'UNSUPPORTED_ACTION', source: id })
      }
    } else {
      const ctl = c.control
      t.ok(supports.includes(ctl.accepted[0] === '/v1/calls' ? 'dial' : ctl.accepted[0].split('/').at(-1)!), `supports lists the accepted action: ${supports.join(', ')}`)
      const ok = await postJson(`${rig.api}${ctl.accepted[0]}`, { source: id, ...ctl.accepted[1] })
      t.equal(ok.status, 202, `accepted: ${JSON.stringify(ok.body)}`)
      await sse.next((e) => e.event === 'call' && (e.data as any).source === id && (e.data as any).phase === 'accepted', 3000)

      const un = await postJson(`${rig.api}${ctl.unsupported[0]}`, { source: id, ...ctl.unsupported[1] })
      t.equal(un.status, 422, `unsupported: ${JSON.stringify(un.body)}`)
      t.match(un.body.error, { code: 'UNSUPPORTED_ACTION', source: id })

      if (ctl.refused) {
        ctl.refused.prepare?.()
        const ref = await postJson(`${rig.api}${ctl.refused.route[0]}`, { source: id, ...ctl.refused.route[1] })
        t.equal(ref.status, 502, `refused: ${JSON.stringify(ref.body)}`)
        t.match(ref.body.error, { code: 'VENDOR_REFUSED', source: id, vendor: { code: ctl.refused.vendorCode, message: /\S/ } })
      }
      if (ctl.timeout) {
        ctl.timeout.hold(true)
        const t0 = Date.now()
        const slow = await postJson(`${rig.api}${ctl.timeout.route[0]}`, { source: id, ...ctl.timeout.route[1] })
        ctl.timeout.hold(false)
        t.equal(slow.status, 504, `timeout: ${JSON.stringify(slow.body)}`)
        t.match(slow.body.error, { code: 'VENDOR_TIMEOUT', source: id })
        t.ok(Date.now() - t0 < 2000, 'within the source timeout')
        await until(() => src.status === 'connected', 5000, 'connected after the hold')
      }
    }

    // ---- the vendor goes away: lost status, channels
    const before = new Map(rig.daemon.table.list({ source: id }).map((e) => [e.channel, e.state]))
    await c.lose()
    await sse.next((e) => e.event === 'source' && (e.data as any).id === id && c.lost.includes((e.data as any).status), 5000)
    t.ok(c.lost.includes((await statusOf()) as SourceStatus), `lost: ${await statusOf()}`)
    const states = () => rig.daemon.table.list({ source: id }).map((e) => e.state)
    if (c.whileLost === 'kept') {
      t.same(new Map(rig.daemon.table.list({ source: id }).map((e) => [e.channel, e.state])), before, 'channels keep their states while the link is lost')
    } else {
      await until(() => states().every((s) => s === c.whileLost), 3000, `channels ${c.whileLost}`)
      t.pass(`every channel ${c.whileLost} while lost`)
      await sse.next((e) => e.event === 'channel' && (e.data as any).source === id && (e.data as any).state === c.whileLost, 3000)
    }
    if (c.control && src.status !== 'reconnecting') {
      const down = await postJson(`${rig.api}${c.control.accepted[0]}`, { source: id, ...c.control.accepted[1] })
      t.equal(down.status, 503, 'control while down: 503, nothing sent')
    }

    // ---- back on the same port: connected again
    await c.restore()
    const lostAt = () => statuses(sse.events, id).findIndex((s) => c.lost.includes(s as SourceStatus))
    await until(() => statuses(sse.events, id).slice(lostAt()).includes('connected'), 5000, 'connected again')
    const seq = statuses(sse.events, id)
    t.ok(lostAt() > 0 && seq.indexOf('connected') < lostAt(), `status events: ${seq.join(' → ')}`)
    t.equal(src.status, 'connected')
    if (c.popAgain) {
      await c.popAgain()
      await until(() => states().some((s) => s !== 'unknown'), 3000, 'a channel known again at the next pop')
    } else if (c.whileLost !== 'kept') await until(() => states().every((s) => s !== c.whileLost), 3000, 'channels known again')

    // ---- stop() twice is safe
    await src.stop()
    await src.stop()
    t.equal(src.status, 'stopped')
    await sse.next((e) => e.event === 'source' && (e.data as any).id === id && (e.data as any).status === 'stopped', 2000)
    t.equal(statuses(sse.events, id).filter((s) => s === 'stopped').length, 1, 'one stopped event')
  })
}

t.test('handler tables: control() dispatches through actions(), supports lists its keys, a missing entry is UnsupportedAction', async (t) => {
  class Probe extends BaseSource {
    readonly type = 'probe'
    calls: string[] = []
    start(): void {}
    async stop(): Promise<void> {}
    protected override actions(): ActionTable {
      return {
        hangup: async (req) => (this.calls.push(`hangup ${req.agent}`), { callId: 'h1' }),
        dial: async (req) => (this.calls.push(`dial ${req.phone}`), { callId: 'd1' }),
      }
    }
    protected override unsupportedWhy(action: string): string | undefined {
      return action === 'dtmf' ? 'no tones here' : undefined
    }
  }
  const ctx = { table: { countBySource: () => 0 } } as unknown as SourceContext
  const p = new Probe('p', ctx)
  const q = new (class extends BaseSource {
    readonly type = 'observer'
    start(): void {}
    async stop(): Promise<void> {}
  })('o', ctx)
  t.same(p.info().supports, ['pops', 'hangup', 'dial'], 'table order')
  t.same(q.info().supports, ['pops'], 'no table: pops only')
  t.same(await p.control({ action: 'dial', source: 'p', phone: '1' }), { callId: 'd1' })
  t.same(await p.control({ action: 'hangup', source: 'p', agent: '7' }), { callId: 'h1' })
  t.same(p.calls, ['dial 1', 'hangup 7'])
  const dtmf = await p.control({ action: 'dtmf', source: 'p', digits: '1' }).catch((e: unknown) => e)
  t.type(dtmf, UnsupportedAction)
  t.match(dtmf, { source: 'p', action: 'dtmf', message: /no tones here/ })
  for (const action of ['transfer', 'toString', '__proto__', 'constructor']) {
    await t.rejects(p.control({ action, source: 'p' } as unknown as CallRequest), { name: 'UnsupportedAction' }, action)
  }
  await t.rejects(q.control({ action: 'dial', source: 'o', phone: '1' }), { name: 'UnsupportedAction' })
})
