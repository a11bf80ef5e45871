import { demoDay, demoRandom, wallClock } from '../../core/demo-day.js'
import type { YantongSimulator } from './simulator.js'

/**
 * The demo's Yantong day: the call records (GetCDRList) of the day so far, then every few seconds a
 * scripted call the random ones do not make (a caller who gives up while it rings, a staff member
 * who signs out for a while), on top of the simulator's own random answered calls.
 * Returns a stop function.
 */
export function yantongDemoDay(sim: YantongSimulator, staff: readonly string[], opts: { count?: number; everyMs?: number } = {}): () => void {
  for (const c of demoDay({ agents: staff, count: opts.count ?? 60, seed: 4 })) {
    const out = c.direction === 'outbound'
    const leg = (agent: string, startMs: number, ring: number, talk: number, disposition: string, codeid1 = '') =>
      sim.addCdr({
        src: out ? agent : c.phone,
        dst: out ? c.phone : agent,
        calldate: wallClock(startMs),
        duration_int: String(ring + talk),
        billsec_int: String(talk),
        disposition,
        staffid: agent,
        exten: agent,
        codeid_1: codeid1,
        uniqueid: '',
        calltype: out ? '0' : '1',
      })
    if (c.outcome === 'transferred' && c.transferTo) {
      // two records, as the PBX writes a transfer: the first agent's short leg, then the colleague's
      const first = Math.min(30, Math.round(c.talkSeconds / 4))
      leg(c.agent, c.startMs, c.ringSeconds, first, 'ANSWERED', '转接')
      leg(c.transferTo, c.startMs + (c.ringSeconds + first) * 1000, 3, c.talkSeconds - first, 'ANSWERED')
    } else {
      leg(c.agent, c.startMs, c.ringSeconds, c.talkSeconds, c.outcome === 'answered' ? 'ANSWERED' : c.outcome === 'busy' ? 'BUSY' : 'NO ANSWER')
    }
  }

  const rnd = demoRandom(44)
  const free = staff.filter((s) => !sim.opts.reserved?.includes(s))
  const api = async (action: string, p: Record<string, string>) => {
    const q = new URLSearchParams({ action, companyid: String(sim.opts.companyid), auth: sim.opts.auth, ...p })
    const r = await fetch(`${sim.url}?${q.toString()}`, { signal: AbortSignal.timeout(2000) })
    return (await r.json()) as { errno: string; data?: unknown }
  }
  let step = 0
  const timers = new Set<NodeJS.Timeout>()
  const later = (ms: number, fn: () => Promise<void> | void) => {
    const t = setTimeout(() => {
      timers.delete(t)
      void Promise.resolve()
        .then(fn)
        .catch(() => {})
    }, ms)
    timers.add(t)
  }
  const tick = async () => {
    const s = free[step++ % free.length]!
    if (step % 4 === 0 && free.length > 1) {
      // a staff member signs out for 20 s (presence offline on the page)
      sim.loggedOut.add(s)
      later(20_000, () => void sim.loggedOut.delete(s))
    } else if (!sim.loggedOut.has(s)) {
      const st = (await api('ExtenStatus', { staffid: s })) as { data?: { Status?: unknown } }
      if (st.data?.Status !== 0) return // in a call: leave it alone
      // a caller who gives up while it rings: a NO ANSWER record
      sim.incoming(s, '1' + ['38', '58', '86'][Math.floor(rnd() * 3)] + String(Math.floor(rnd() * 1e8)).padStart(8, '0'))
      later(Math.max(500, sim.opts.ringMs / 2), () => api('HangUp', { staffid: s }).then(() => {}))
    }
  }
  const every = opts.everyMs ?? 9000
  const loop = setInterval(() => void tick().catch(() => {}), every)
  later(1500, tick)
  return () => {
    clearInterval(loop)
    for (const t of timers) clearTimeout(t)
  }
}
