import { demoDay, wallClock } from '../../core/demo-day.js'
import type { LqVackSimulator } from './simulator.js'

/**
 * The demo's LQ vack day: the finished calls (getCustCall) of the day so far, then a break every
 * `cycleMs`: every agent that takes random calls sets busy (示忙) for `breakMs`, and a caller who
 * arrives then waits in the queue until the simulator gives up on him (an abandoned, unanswered call).
 * The simulator's random calls do the answered ones. Returns a stop function.
 */
export function lqVackDemoDay(sim: LqVackSimulator, opts: { count?: number; cycleMs?: number; breakMs?: number } = {}): () => void {
  const opers = [...sim.agents.keys()]
  const lines = sim.channels.filter((c) => c.kind === 'external').map((c) => c.ch)
  let sn = 0
  for (const c of demoDay({ agents: opers, count: opts.count ?? 60, seed: 0 })) {
    const talks = c.outcome === 'answered' || c.outcome === 'transferred'
    const endMs = c.startMs + (c.ringSeconds + c.talkSeconds) * 1000
    const t = wallClock(c.startMs)
    const ch = lines[++sn % lines.length] ?? 0
    // id (来电时间 ms + channel) and vt (6 talked, 0 nobody did) as LCall 5.0.4.5+ rows carry them; a simulator without them ignores them
    const row = {
      id: `${c.startMs}${ch}`,
      sn, // below the simulator's own (1001, …): earlier calls
      ch,
      dir: c.direction === 'inbound' ? 1 : 2,
      vt: talks ? 6 : 0,
      phone: c.phone,
      // LQ's record has no disposition: a call no agent took has no oper
      oper: talks || c.direction === 'outbound' ? c.agent : null,
      date: t.slice(0, 10),
      tms: t.slice(11),
      tme: wallClock(endMs).slice(11),
      memo: c.outcome === 'transferred' && c.transferTo ? `转接 ${c.transferTo}` : c.outcome === 'busy' ? '占线' : null,
    }
    sim.log.push(row)
  }

  const free = opers.filter((o) => !sim.opts.reserved?.includes(o))
  const timers = new Set<NodeJS.Timeout>()
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t)
      fn()
    }, ms)
    timers.add(t)
  }
  const pause = () => {
    for (const o of free) sim.agents.get(o)!.busy = true
    later(1000, () => void sim.inbound())
    later(opts.breakMs ?? 40_000, () => {
      for (const o of free) sim.agents.get(o)!.busy = false
    })
  }
  const loop = setInterval(pause, opts.cycleMs ?? 90_000)
  later(2000, pause)
  return () => {
    clearInterval(loop)
    for (const t of timers) clearTimeout(t)
  }
}
