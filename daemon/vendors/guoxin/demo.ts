import { demoDay, demoRandom } from '../../core/demo-day.js'
import type { GuoxinSimulator } from './simulator.js'

/**
 * The demo's Guoxin day: the call log (CALL_LOG_QUERY, with recordings for answered calls) of the
 * day so far, then every few seconds a scripted call the random ones do not make: a caller who hangs
 * up while it rings (canceled), a call to an extension already in a call (busy), an agent who sets
 * himself busy (示忙) for a while. The simulator's own random calls are answered ones. Returns a stop function.
 */
export function guoxinDemoDay(sim: GuoxinSimulator, opts: { count?: number; everyMs?: number } = {}): () => void {
  const exts = [...sim.exts.keys()]
  let n = 0
  const stamp = (ms: number) => new Date(ms).toISOString().replace(/\D/g, '').slice(0, 14)
  const log = (ext: string, phone: string, out: boolean, beginTime: number, talk: number) => {
    const s = stamp(beginTime)
    sim.logs.push({
      id: 900_000 + ++n, // apart from the simulator's own ids (1, 2, …)
      caller: out ? ext : phone,
      callee: out ? phone : ext,
      channel: '127.0.0.1',
      beginTime,
      duration: talk,
      state: talk > 0 ? 'STATE_RECEIVED' : 'STATE_FAILED',
      callType: 'LOCAL_CALL',
      callid: `${beginTime}${String(n).padStart(6, '0')}-9@127.0.0.1`,
      clickcallid: '',
      recordVoice: talk > 0 ? `D:/records/${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}/${ext}_${phone}_${s}.wav` : '',
    })
  }
  for (const c of demoDay({ agents: exts.slice(0, 3), count: opts.count ?? 60, seed: 1 })) {
    const out = c.direction === 'outbound'
    if (c.outcome === 'transferred' && c.transferTo) {
      const first = Math.min(30, Math.round(c.talkSeconds / 4))
      log(c.agent, c.phone, out, c.startMs, first)
      log(c.transferTo, c.phone, out, c.startMs + (c.ringSeconds + first) * 1000, c.talkSeconds - first)
    } else log(c.agent, c.phone, out, c.startMs, c.talkSeconds)
  }

  const rnd = demoRandom(11)
  const free = exts.filter((e) => !sim.opts.reserved?.includes(e))
  const phone = () => '1' + ['35', '52', '89'][Math.floor(rnd() * 3)] + String(Math.floor(rnd() * 1e8)).padStart(8, '0')
  const timers = new Set<NodeJS.Timeout>()
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t)
      fn()
    }, ms)
    timers.add(t)
  }
  let step = 0
  const tick = () => {
    const kind = step++ % 3
    const idle = free.filter((e) => !sim.exts.get(e)!.call && sim.exts.get(e)!.presence === 'online')
    const talking = free.filter((e) => sim.exts.get(e)!.call)
    if (kind === 0 && idle.length) {
      // the caller hangs up while it rings: a canceled call, logged STATE_FAILED
      const c = sim.incoming(idle[Math.floor(rnd() * idle.length)]!, phone())
      if (c) later(Math.max(500, sim.opts.ringMs / 2), () => sim.endCall(c, 'canceled'))
    } else if (kind === 1 && talking.length) {
      // a second caller for an extension in a call: busy (the maincall is canceled at once)
      sim.incoming(talking[0]!, phone())
    } else if (kind === 2 && idle.length > 1) {
      // an agent sets himself busy for 20 s (presence on the page)
      const e = sim.exts.get(idle[Math.floor(rnd() * idle.length)]!)!
      e.presence = 'busy'
      later(20_000, () => (e.presence = 'online'))
    }
  }
  const loop = setInterval(tick, opts.everyMs ?? 7000)
  later(1000, tick)
  return () => {
    clearInterval(loop)
    for (const t of timers) clearTimeout(t)
  }
}
