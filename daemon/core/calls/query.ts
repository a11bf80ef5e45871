import type { Db, Statement } from '../db.js'
import { fromRow } from './log.js'
import type { Call, CallDirection, Disposition } from './types.js'

/**
 * The call log's read side for /v1/cdr and /v1/cdr.csv: filters, newest first (startedAt desc, id
 * desc) and keyset paging. Every statement is built from fixed fragments (the user's values are only
 * ever bound parameters) and prepared once per shape.
 *
 * `phone` means "the number contains this text" (a prefix is a substring too). Three characters or
 * more go through the trigram index of the log's distinct numbers (call_phones_fts): when it names
 * few numbers (≤ FTS_PHONES), their calls come from the phone index and are sorted. When the text
 * is common (or shorter than a trigram), the newest-first scan with `instr` finds `limit` matches
 * quickly precisely because they are common.
 */

export interface CdrFilters {
  fromMs?: number
  /** exclusive */
  toMs?: number
  source?: string
  agent?: string
  phone?: string
  direction?: CallDirection
  disposition?: Disposition
  hasRecording?: boolean
  cursor?: CdrCursor
  limit: number
}

/** Where the previous page ended: the last call's start and id (the order's full key). */
export interface CdrCursor {
  startedMs: number
  id: string
}

export interface CdrPage {
  calls: Call[]
  /** more calls follow this page */
  next: CdrCursor | null
}

/** above this many matching numbers the newest-first scan is cheaper than fetching and sorting their calls */
export const FTS_PHONES = 500
const COLUMNS = 'id, source, channel, agent, direction, phone, started_ms, answered_ms, ended_ms, ring_s, talk_s, disposition, recordings, vendor_ids, pop_data, memo, inputs, updated_ms'
const MAX_SHAPES = 512

export function encodeCursor(c: CdrCursor): string {
  return Buffer.from(`${c.startedMs}.${c.id}`, 'utf8').toString('base64url')
}

/** null: not a cursor this API gave out */
export function decodeCursor(s: string): CdrCursor | null {
  if (s.length > 200 || !/^[A-Za-z0-9_-]+$/.test(s)) return null
  // the id is only ever a bound parameter: any text a call id can be (the tracker's are UUIDs)
  const m = /^(\d{1,15})\.([^\u0000-\u001f]{1,128})$/u.exec(Buffer.from(s, 'base64url').toString('utf8'))
  return m ? { startedMs: Number(m[1]), id: m[2]! } : null
}

export class CallQuery {
  private readonly shapes = new Map<string, Statement>()
  private readonly ftsPhones: Statement
  private readonly byId: Statement

  constructor(readonly db: Db) {
    this.ftsPhones = db.prepare(`SELECT phone FROM call_phones_fts WHERE phone LIKE ? LIMIT ${FTS_PHONES + 1}`).pluck()
    this.byId = db.prepare(`SELECT ${COLUMNS} FROM calls WHERE id = ?`)
  }

  get(id: string): Call | undefined {
    const r = this.byId.get(id) as Parameters<typeof fromRow>[0] | undefined
    return r && fromRow(r)
  }

  /** One page, newest first; `next` when more calls match. */
  page(f: CdrFilters): CdrPage {
    const { sql, params } = this.plan(f)
    const rows = this.stmt(sql).all(...params, f.limit + 1) as Parameters<typeof fromRow>[0][]
    const more = rows.length > f.limit
    const calls = (more ? rows.slice(0, f.limit) : rows).map(fromRow)
    const last = calls[calls.length - 1]
    return { calls, next: more && last ? { startedMs: last.startedMs, id: last.id } : null }
  }

  /** Is there a call after the first `n` that match (the CSV's cap)? The key of the n-th when so. */
  cutAt(f: Omit<CdrFilters, 'limit'>, n: number): CdrCursor | null {
    const { sql, params } = this.plan({ ...f, limit: 0 }, `started_ms, id`, ` OFFSET ${Math.max(0, Math.trunc(n) - 1)}`)
    const rows = this.stmt(sql).all(...params, 2) as { started_ms: number; id: string }[]
    return rows.length === 2 ? { startedMs: rows[0]!.started_ms, id: rows[0]!.id } : null
  }

  /** The SQL text for the filters; the same filters give the same text (one prepared statement each). */
  plan(f: CdrFilters, columns = COLUMNS, tail = ''): { sql: string; params: unknown[] } {
    const where: string[] = []
    const params: unknown[] = []
    const add = (cond: string, ...vals: unknown[]) => {
      where.push(cond)
      params.push(...vals)
    }
    if (f.fromMs !== undefined) add('started_ms >= ?', f.fromMs)
    if (f.toMs !== undefined) add('started_ms < ?', f.toMs)
    if (f.source !== undefined) add('source = ?', f.source)
    if (f.agent !== undefined) add('agent = ?', f.agent)
    if (f.direction !== undefined) add('direction = ?', f.direction)
    if (f.disposition !== undefined) add('disposition = ?', f.disposition)
    if (f.hasRecording !== undefined) add(f.hasRecording ? 'recordings IS NOT NULL' : 'recordings IS NULL')
    if (f.cursor) add('(started_ms, id) < (?, ?)', f.cursor.startedMs, f.cursor.id)
    let order = 'started_ms DESC, id DESC'
    if (f.phone !== undefined) {
      const numbers = this.numbersWith(f.phone)
      if (numbers) {
        add('phone IN (SELECT value FROM json_each(?))', JSON.stringify(numbers))
        // `+`: no index order, so SQLite fetches those numbers' calls by the phone index and sorts them instead of walking every call newest first
        order = '+started_ms DESC, +id DESC'
      } else add('instr(phone, ?) > 0', f.phone)
    }
    const sql = `SELECT ${columns} FROM calls${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY ${order} LIMIT ?${tail}`
    return { sql, params }
  }

  /** The numbers that contain `phone`, when the trigram index can say and they are few; else null (scan). */
  private numbersWith(phone: string): string[] | null {
    if ([...phone].length < 3 || /[%_]/.test(phone)) return null
    const hits = this.ftsPhones.all(`%${phone}%`) as string[]
    // the trigram LIKE ignores case: keep the exact matches
    return hits.length <= FTS_PHONES ? hits.filter((p) => p.includes(phone)) : null
  }

  private stmt(sql: string): Statement {
    let s = this.shapes.get(sql)
    if (!s) {
      if (this.shapes.size >= MAX_SHAPES) this.shapes.clear()
      s = this.db.prepare(sql)
      this.shapes.set(sql, s)
    }
    return s
  }
}
