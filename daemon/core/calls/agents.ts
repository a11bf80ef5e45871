import type { Db } from '../db.js'
import type { EventBus } from '../events.js'
import type { Logger } from '../log.js'
import type { ChannelTable } from '../table.js'
import type { AgentReport } from './types.js'

/** One agent as the registry keeps it. */
export interface Agent {
  /** `<source>:<agent>` */
  id: string
  source: string
  agent: string
  name: string | null
  channels: string[]
  presence: 'idle' | 'busy' | 'away' | 'offline' | null
  loggedIn: boolean | null
  vendor: Record<string, unknown> | null
  firstSeenMs: number
  lastSeenMs: number
}

/**
 * Every agent, extension or staff id the sources have named (a channel's `agent`, a vendor's agent
 * list), kept in SQLite so the list survives restarts. Presence comes from the vendor where it has
 * one, else from the agent's channels in the table.
 */
export class AgentRegistry {
  private readonly agents = new Map<string, Agent>()
  private db: Db | null = null
  private readonly dirty = new Set<string>()
  private scheduled = false

  constructor(private readonly deps: { log: Logger; bus: EventBus; table: ChannelTable; now?: () => number }) {}

  open(db: Db): void {
    this.db = db
    const rows = db.prepare('SELECT id, source, agent, name, channels, first_seen_ms, last_seen_ms FROM agents').all() as {
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
      this.agents.set(r.id, {
        id: r.id,
        source: r.source,
        agent: r.agent,
        name: r.name,
        channels: r.channels ? (JSON.parse(r.channels) as string[]) : [],
        presence: null,
        loggedIn: null,
        vendor: null,
        firstSeenMs: r.first_seen_ms,
        lastSeenMs: r.last_seen_ms,
      })
    }
    if (this.dirty.size) this.schedule()
  }

  report(a: AgentReport): void {
    if (!a.agent) return
    const id = `${a.source}:${a.agent}`
    const t = (this.deps.now ?? Date.now)()
    let e = this.agents.get(id)
    let changed = false
    if (!e) {
      e = { id, source: a.source, agent: a.agent, name: null, channels: [], presence: null, loggedIn: null, vendor: null, firstSeenMs: t, lastSeenMs: t }
      this.agents.set(id, e)
      changed = true
    }
    if (a.name && a.name !== e.name) {
      e.name = a.name
      changed = true
    }
    for (const ch of a.channels ?? []) {
      if (e.channels.includes(ch)) continue
      e.channels.push(ch)
      changed = true
    }
    if (a.presence !== undefined && a.presence !== e.presence) {
      e.presence = a.presence
      changed = true
    }
    if (a.loggedIn !== undefined && a.loggedIn !== e.loggedIn) {
      e.loggedIn = a.loggedIn
      changed = true
    }
    if (a.vendor !== undefined) e.vendor = a.vendor
    e.lastSeenMs = t
    if (changed) {
      this.dirty.add(id)
      this.schedule()
      this.deps.bus.publish('agent', { id: e.id, source: e.source, agent: e.agent, name: e.name, channels: e.channels, presence: e.presence, loggedIn: e.loggedIn })
    }
  }

  list(): Agent[] {
    return [...this.agents.values()]
  }

  get(id: string): Agent | undefined {
    return this.agents.get(id)
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => this.flush())
  }

  flush(): void {
    this.scheduled = false
    if (!this.db || !this.dirty.size) return
    const stmt = this.db.prepare(
      `INSERT INTO agents (id, source, agent, name, channels, first_seen_ms, last_seen_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET name = excluded.name, channels = excluded.channels, last_seen_ms = excluded.last_seen_ms`,
    )
    const ids = [...this.dirty]
    try {
      this.db.transaction(() => {
        for (const id of ids) {
          const e = this.agents.get(id)
          if (e) stmt.run(e.id, e.source, e.agent, e.name, JSON.stringify(e.channels), e.firstSeenMs, e.lastSeenMs)
        }
      })()
      this.dirty.clear()
    } catch (err) {
      this.deps.log.error({ err }, 'agent registry commit failed; retried at the next change')
    }
  }
}
