import type { Db } from '../db.js'
import type { Call, CallInput, CallRecording, CallDirection, Disposition } from './types.js'

/** A call row as SQLite keeps it. */
interface Row {
  id: string
  source: string
  channel: string | null
  agent: string | null
  direction: string | null
  phone: string | null
  started_ms: number
  answered_ms: number | null
  ended_ms: number | null
  ring_s: number | null
  talk_s: number | null
  disposition: string
  recordings: string | null
  vendor_ids: string | null
  pop_data: string | null
  memo: string | null
  inputs: string
  updated_ms: number
}

const COLUMNS = 'id, source, channel, agent, direction, phone, started_ms, answered_ms, ended_ms, ring_s, talk_s, disposition, recordings, vendor_ids, pop_data, memo, inputs, updated_ms'

/** The call log's statements: writes in one transaction per batch, reads by id, vendor key and time window. */
export class CallLog {
  private readonly upsertStmt
  private readonly keyStmt
  private readonly byIdStmt
  private readonly byKeyStmt
  private readonly windowStmt
  private readonly countStmt

  constructor(readonly db: Db) {
    this.upsertStmt = db.prepare(
      `INSERT INTO calls (${COLUMNS}) VALUES (@id, @source, @channel, @agent, @direction, @phone, @started_ms, @answered_ms, @ended_ms, @ring_s, @talk_s, @disposition, @recordings, @vendor_ids, @pop_data, @memo, @inputs, @updated_ms)
       ON CONFLICT(id) DO UPDATE SET source = excluded.source, channel = excluded.channel, agent = excluded.agent, direction = excluded.direction, phone = excluded.phone,
         started_ms = excluded.started_ms, answered_ms = excluded.answered_ms, ended_ms = excluded.ended_ms, ring_s = excluded.ring_s, talk_s = excluded.talk_s,
         disposition = excluded.disposition, recordings = excluded.recordings, vendor_ids = excluded.vendor_ids, pop_data = excluded.pop_data, memo = excluded.memo,
         inputs = excluded.inputs, updated_ms = excluded.updated_ms`,
    )
    this.keyStmt = db.prepare('INSERT OR IGNORE INTO call_keys (key, call_id) VALUES (?, ?)')
    this.byIdStmt = db.prepare(`SELECT ${COLUMNS} FROM calls WHERE id = ?`)
    this.byKeyStmt = db.prepare(
      `SELECT c.id, ${COLUMNS.split(', ')
        .slice(1)
        .map((c) => 'c.' + c)
        .join(', ')} FROM call_keys k JOIN calls c ON c.id = k.call_id WHERE k.key = ?`,
    )
    this.windowStmt = db.prepare(`SELECT ${COLUMNS} FROM calls WHERE source = ? AND started_ms BETWEEN ? AND ? ORDER BY started_ms LIMIT 200`)
    this.countStmt = db.prepare('SELECT count(*) AS n FROM calls')
  }

  /** Write calls (new or changed) and their vendor keys in one transaction. */
  write(calls: readonly Call[]): void {
    this.db.transaction(() => {
      for (const c of calls) {
        this.upsertStmt.run(toRow(c))
        for (const k of callKeys(c)) this.keyStmt.run(k, c.id)
      }
    })()
  }

  get(id: string): Call | undefined {
    const r = this.byIdStmt.get(id) as Row | undefined
    return r && fromRow(r)
  }

  byKey(key: string): Call | undefined {
    const r = this.byKeyStmt.get(key) as Row | undefined
    return r && fromRow(r)
  }

  /** Calls of a source that started in [fromMs, toMs] (the merge's candidates). */
  window(source: string, fromMs: number, toMs: number): Call[] {
    return (this.windowStmt.all(source, fromMs, toMs) as Row[]).map(fromRow)
  }

  count(): number {
    return (this.countStmt.get() as { n: number }).n
  }
}

/** `<source>|<name>|<value>`: a vendor id as the merge looks it up. */
export function callKey(source: string, name: string, value: string): string {
  return `${source}|${name}|${value}`
}

export function callKeys(c: Call): string[] {
  return Object.entries(c.vendorIds).map(([n, v]) => callKey(c.source, n, v))
}

function toRow(c: Call): Row {
  const json = (v: unknown, empty: boolean) => (empty ? null : JSON.stringify(v))
  return {
    id: c.id,
    source: c.source,
    channel: c.channel,
    agent: c.agent,
    direction: c.direction,
    phone: c.phone,
    started_ms: c.startedMs,
    answered_ms: c.answeredMs,
    ended_ms: c.endedMs,
    ring_s: c.ringSeconds,
    talk_s: c.talkSeconds,
    disposition: c.disposition,
    recordings: json(c.recordings, c.recordings.length === 0),
    vendor_ids: json(c.vendorIds, Object.keys(c.vendorIds).length === 0),
    pop_data: json(c.popData, c.popData === null),
    memo: c.memo,
    inputs: c.inputs.join(','),
    updated_ms: c.updatedMs,
  }
}

export function fromRow(r: Row): Call {
  return {
    id: r.id,
    source: r.source,
    channel: r.channel,
    agent: r.agent,
    direction: r.direction as CallDirection | null,
    phone: r.phone,
    startedMs: r.started_ms,
    answeredMs: r.answered_ms,
    endedMs: r.ended_ms,
    ringSeconds: r.ring_s,
    talkSeconds: r.talk_s,
    disposition: r.disposition as Disposition,
    recordings: r.recordings ? (JSON.parse(r.recordings) as CallRecording[]) : [],
    vendorIds: r.vendor_ids ? (JSON.parse(r.vendor_ids) as Record<string, string>) : {},
    popData: r.pop_data ? (JSON.parse(r.pop_data) as Record<string, unknown>) : null,
    memo: r.memo,
    inputs: r.inputs ? (r.inputs.split(',') as CallInput[]) : [],
    updatedMs: r.updated_ms,
  }
}
