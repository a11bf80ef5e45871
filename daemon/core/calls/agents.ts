import type { Db, Statement } from '../db.js'
import type { EventBus } from '../events.js'
import type { Logger } from '../log.js'
import type { ChannelChange, ChannelState, ChannelTable } from '../table.js'
import { callJson, type AgentReport, type Call } from './types.js'

export const PRESENCES = ['idle', 'busy', 'away', 'offline', 'unknown'] as const
export type Presence = (typeof PRESENCES)[number]

/** One agent as the registry keeps it. */
export interface Agent {
  /** `<source>:<agent>` */
  id: string
  source: string
  agent: string
  name: string | null
  /** channel names within the source */
  channels: string[]
  /** the vendor's own presence (null: the vendor has none, or has not said since start) */
  presence: 'idle' | 'busy' | 'away' | 'offline' | null
  loggedIn: boolean | null
  vendor: Record<string, unknown> | null
  firstSeenMs: number
  lastSeenMs: number
}

/** What the registry needs of the call tracker: the live calls. */
export interface LiveCalls {
  activeOn(channelId: string): Call | undefined
  activeCalls(): Call[]
}

/** bounds on what sources may make the registry hold (every input is untrusted) */
export const MAX_AGENTS = 10_000
const MAX_ID = 64
const MAX_NAME = 128
const MAX_CHANNELS = 64
/** lastSeenAt alone is written at most this often (a table tick must not be a write) */
const SEEN_FLUSH_MS = 10_000

const BUSY: ReadonlySet<ChannelState> = new Set(['ringing', 'dialing', 'talking', 'held'])

/**
 * Every agent, extension or staff id the sources have named (a channel's `agent` in the table, a
 * vendor's agent report or complete list), kept in SQLite so the list survives restarts.
 *
 * Presence is the vendor's where it has one (lq-vack getOperStatus, Guoxin presence…); else it comes
 * from the agent's channels in the table: any ringing/dialing/talking/held → busy, else any idle →
 * idle, else any offline → offline, else unknown. After a restart nothing the vendors said is kept:
 * presence is the table's (unknown until the channels are seen) until a source says more.
 *
 * `agent` events are published when what a client sees changes (presence, loggedIn, the current call,
 * channels, name), checked once per tick for the agents touched in it: a table tick that changes
 * nothing of that publishes nothing. A call starts and ends with a change of its channel or a report
 * naming its agent (the tracker passes those on), which is what touches the agent: no bus
 * subscription (that would count as an event-stream client).
 */
export class AgentRegistry {
  private readonly agents = new Map<string, Agent>()
  /** table channel id → the agent last seen on it */
  private readonly byChannel = new Map<string, string>()
  /** what a client last saw of each agent (its event signature) */
  private readonly shown = new Map<string, string>()
  private db: Db | null = null
  private upsert: Statement | null = null
  private readonly dirty = new Set<string>()
  private readonly seen = new Set<string>()
  private readonly touched = new Set<string>()
  private scheduled = false
  private seenTimer: NodeJS.Timeout | null = null
  private calls: LiveCalls | null = null
  /** live calls by `<source>:<agent>`, built when first needed in a tick */
  private liveByAgent: Map<string, Call> | null = null
  private full = false
  private readonly now: () => number

  constructor(private readonly deps: { log: Logger; bus: EventBus; table: ChannelTable; now?: () => number }) {
    this.now = deps.now ?? Date.now
    deps.table.onChange((c) => this.onChannel(c))
  }

  /** The tracker whose live calls are the agents' current calls. */
  attach(calls: LiveCalls): void {
    this.calls = calls
  }

  open(db: Db): void {
    this.db = db
    this.upsert = db.prepare(
      `INSERT INTO agents (id, source, agent, name, channels, first_seen_ms, last_seen_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET name = excluded.name, channels = excluded.channels, last_seen_ms = excluded.last_seen_ms`,
    )
    const rows = db.prepare('SELECT id, source, agent, name, channels, first_seen_ms, last_seen_ms FROM agents LIMIT ?').all(MAX_AGENTS) as {
      id: string
      source: string
      agent: string
      name: string | null
      channels: string | null
      first_seen_ms: number
      last_seen_ms: number
    }[]
    for (const r of rows) {
      if (this.agents.has(r.id)) continue
      let channels: string[] = []
      try {
        const v = r.channels ? (JSON.parse(r.channels) as unknown) : []
        if (Array.isArray(v)) channels = v.filter((x): x is string => typeof x === 'string').slice(0, MAX_CHANNELS)
      } catch {
        this.deps.log.warn({ agent: r.id }, 'agent row has unreadable channels; starting it with none')
      }
      const a: Agent = { id: r.id, source: r.source, agent: r.agent, name: r.name, channels, presence: null, loggedIn: null, vendor: null, firstSeenMs: r.first_seen_ms, lastSeenMs: r.last_seen_ms }
      this.agents.set(r.id, a)
      this.shown.set(r.id, this.signature(a))
    }
    if (this.dirty.size || this.seen.size) this.schedule()
  }

  report(a: AgentReport): void {
    this.merge(a, false)
  }

  /** A complete list for a source: its agents that are not in it are offline (as the vendor says). */
  reportAll(source: string, list: readonly AgentReport[]): void {
    const named = new Set<string>()
    for (const a of list) {
      if (a.source !== source) continue
      const e = this.merge(a, true)
      if (e) named.add(e.id)
    }
    for (const e of this.agents.values()) {
      if (e.source !== source || named.has(e.id) || e.presence === 'offline') continue
      e.presence = 'offline'
      this.touch(e.id)
    }
  }

  list(): Agent[] {
    return [...this.agents.values()]
  }

  get(id: string): Agent | undefined {
    return this.agents.get(id)
  }

  /** The agents with this vendor agent id, whatever their source. */
  byAgentId(agent: string): Agent[] {
    return this.list().filter((a) => a.agent === agent)
  }

  /** Presence as served: the vendor's, else from the agent's channels in the table. */
  presence(a: Agent): Presence {
    if (a.presence !== null) return a.presence
    let idle = false
    let offline = false
    for (const ch of a.channels) {
      const e = this.deps.table.lookup(a.source, ch)
      if (!e) continue
      if (BUSY.has(e.state)) return 'busy'
      if (e.state === 'idle') idle = true
      else if (e.state === 'offline') offline = true
    }
    return idle ? 'idle' : offline ? 'offline' : 'unknown'
  }

  /** The live call on one of the agent's channels, or with that agent on its source. */
  currentCall(a: Agent): Call | null {
    if (!this.calls) return null
    for (const ch of a.channels) {
      const c = this.calls.activeOn(`${a.source}:${ch}`)
      if (c) return c
    }
    if (this.liveByAgent) return this.liveByAgent.get(a.id) ?? null
    for (const c of this.calls.activeCalls()) if (c.source === a.source && c.agent === a.agent) return c
    return null
  }

  /** Live calls by agent, for one tick's checks: built once, not scanned once per touched agent. */
  private indexLive(): void {
    this.liveByAgent = new Map()
    for (const c of this.calls?.activeCalls() ?? []) if (c.agent && !this.liveByAgent.has(`${c.source}:${c.agent}`)) this.liveByAgent.set(`${c.source}:${c.agent}`, c)
  }

  /** The JSON form (/v1/agents); the `agent` event has the same without `currentCall` (and with `currentCallId`). */
  json(a: Agent, withCall = true): Record<string, unknown> {
    const call = this.currentCall(a)
    return {
      id: a.id,
      source: a.source,
      agent: a.agent,
      name: a.name,
      channels: a.channels.map((ch) => `${a.source}:${ch}`),
      presence: this.presence(a),
      loggedIn: a.loggedIn,
      ...(withCall ? { currentCall: call ? callJson(call) : null } : { currentCallId: call?.id ?? null }),
      lastSeenAt: new Date(a.lastSeenMs).toISOString(),
    }
  }

  // ---- inputs ----

  private merge(a: AgentReport, complete: boolean): Agent | null {
    if (typeof a.agent !== 'string' || !a.agent || a.agent.length > MAX_ID || a.source.length > MAX_ID) return null
    const id = `${a.source}:${a.agent}`
    const t = this.now()
    let e = this.agents.get(id)
    let changed = false
    if (!e) {
      if (this.agents.size >= MAX_AGENTS) {
        if (!this.full) this.deps.log.error({ agent: id, max: MAX_AGENTS }, 'agent registry full: agents not yet known are not kept')
        this.full = true
        return null
      }
      e = { id, source: a.source, agent: a.agent, name: null, channels: [], presence: null, loggedIn: null, vendor: null, firstSeenMs: t, lastSeenMs: t }
      this.agents.set(id, e)
      changed = true
    }
    const name = typeof a.name === 'string' ? a.name.slice(0, MAX_NAME) : null
    if (name && name !== e.name) {
      e.name = name
      changed = true
    }
    if (a.channels) {
      const list = a.channels.filter((c) => typeof c === 'string' && c.length > 0 && c.length <= MAX_ID).slice(0, MAX_CHANNELS)
      // a complete list says where the agent sits now; a single report only adds
      if (complete && list.length && list.join('\n') !== e.channels.join('\n')) {
        e.channels = list
        changed = true
      } else {
        for (const ch of list) {
          if (e.channels.includes(ch) || e.channels.length >= MAX_CHANNELS) continue
          e.channels.push(ch)
          changed = true
        }
      }
      for (const ch of list) this.byChannel.set(`${e.source}:${ch}`, e.id)
    }
    if (a.presence !== undefined && a.presence !== e.presence) e.presence = a.presence
    if (a.loggedIn !== undefined && a.loggedIn !== e.loggedIn) e.loggedIn = a.loggedIn
    if (a.vendor !== undefined) e.vendor = a.vendor
    e.lastSeenMs = t
    if (changed) this.dirty.add(id)
    else this.seen.add(id)
    this.touch(id)
    return e
  }

  /** A channel moved: its agent (as the table names it) is seen there, and its presence may follow. */
  private onChannel(c: ChannelChange): void {
    const e = c.entry
    const was = this.byChannel.get(e.id)
    const now = e.agent || null
    if (now && now !== (was && this.agents.get(was)?.agent)) {
      // another agent on the channel (hot desk): the old one leaves it
      if (was) {
        const old = this.agents.get(was)
        if (old && old.channels.includes(e.channel)) {
          old.channels = old.channels.filter((ch) => ch !== e.channel)
          this.dirty.add(old.id)
          this.touch(old.id)
        }
      }
      this.merge({ source: e.source, agent: now, channels: [e.channel] }, false)
      return
    }
    if (was) {
      const a = this.agents.get(was)
      if (a) {
        a.lastSeenMs = this.now()
        this.seen.add(was)
      }
      this.touch(was)
    }
  }

  // ---- events and writes ----

  private signature(a: Agent): string {
    return JSON.stringify([this.presence(a), a.loggedIn, this.currentCall(a)?.id ?? null, a.channels, a.name])
  }

  private touch(id: string): void {
    if (!this.agents.has(id)) return
    this.touched.add(id)
    this.schedule()
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => this.tick())
  }

  private tick(): void {
    this.scheduled = false
    if (this.touched.size > 1) this.indexLive()
    for (const id of this.touched) {
      const a = this.agents.get(id)
      if (!a) continue
      const sig = this.signature(a)
      if (this.shown.get(id) === sig) continue
      this.shown.set(id, sig)
      this.deps.bus.publish('agent', this.json(a, false))
    }
    this.touched.clear()
    this.liveByAgent = null
    if (this.dirty.size) this.flush(false)
    if (this.seen.size && !this.seenTimer) {
      this.seenTimer = setTimeout(() => {
        this.seenTimer = null
        this.flush(true)
      }, SEEN_FLUSH_MS)
      this.seenTimer.unref()
    }
  }

  /** Write changed agents (and, with `seen` or at stop, those only seen again). */
  flush(seen = true): void {
    if (!this.db || !this.upsert) return
    if (seen) {
      if (this.seenTimer) clearTimeout(this.seenTimer)
      this.seenTimer = null
    }
    const ids = [...this.dirty, ...(seen ? this.seen : [])]
    if (!ids.length) return
    const stmt = this.upsert
    try {
      this.db.transaction(() => {
        for (const id of ids) {
          const e = this.agents.get(id)
          if (e) stmt.run(e.id, e.source, e.agent, e.name, JSON.stringify(e.channels), e.firstSeenMs, e.lastSeenMs)
        }
      })()
      this.dirty.clear()
      if (seen) this.seen.clear()
    } catch (err) {
      this.deps.log.error({ err }, 'agent registry commit failed; retried at the next change')
    }
  }

  /** Write everything pending (at stop). */
  close(): void {
    this.flush(true)
    this.db = null
    this.upsert = null
  }
}
