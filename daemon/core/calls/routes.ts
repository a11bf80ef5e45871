import { Readable } from 'node:stream'
import { hostTimeZone, isoInZone, localOffset } from '../../../protocols/lq-pop/time.js'
import type { Db } from '../db.js'
import { ApiError } from '../errors.js'
import type { RoutePlugin } from '../http.js'
import { jsonResponse, queryInt, stringParams } from '../route-schema.js'
import { PRESENCES, type AgentRegistry } from './agents.js'
import { CallQuery, decodeCursor, encodeCursor, type CdrFilters } from './query.js'
import { CALL_DIRECTIONS, DISPOSITIONS, callJson, recordingJson, type Call } from './types.js'

export const CDR_DEFAULT_LIMIT = 100
export const CDR_MAX_LIMIT = 1000
/** rows one CSV answer holds at most; beyond it the answer says where to go on (Telbridge-Next-Cursor) */
export const CSV_MAX_ROWS = 100_000
/** rows read per statement while the CSV streams: no statement stays open while the socket drains */
const CSV_PAGE = 500

const TIME_TEXT = 'an ISO 8601 date-time (2026-12-02T08:00:00+08:00, or without an offset: in timeZone) or a date (2026-12-02: that day in timeZone)'

export interface CdrQuery {
  from?: string
  to?: string
  source?: string
  agent?: string
  phone?: string
  direction?: string
  disposition?: string
  hasRecording?: string
  limit?: number | null
  cursor?: string
}

const filterProps = {
  from: { type: 'string', maxLength: 40, description: `${TIME_TEXT}; calls that started at or after it` },
  to: { type: 'string', maxLength: 40, description: `${TIME_TEXT}; calls that started before it (a date: before the end of that day)` },
  source: { type: 'string', maxLength: 64, description: 'a source id (at most 64 characters)' },
  agent: { type: 'string', maxLength: 64, description: 'an agent id as the vendor names it (at most 64 characters)' },
  phone: { type: 'string', maxLength: 32, description: 'text the number contains (a prefix or any part of it; at most 32 characters)' },
  direction: { type: 'string', pattern: `^(?:${CALL_DIRECTIONS.join('|')})?$`, description: `one of ${CALL_DIRECTIONS.join(', ')}` },
  disposition: { type: 'string', pattern: `^(?:${DISPOSITIONS.join('|')})?$`, description: `one of ${DISPOSITIONS.join(', ')}` },
  hasRecording: { type: 'string', pattern: '^(?:true|false)?$', description: 'true or false' },
} as const

export const cdrQuerySchema = {
  type: 'object',
  properties: {
    ...filterProps,
    limit: queryInt(1, CDR_MAX_LIMIT, `a whole number from 1 to ${CDR_MAX_LIMIT} (default ${CDR_DEFAULT_LIMIT})`),
    cursor: { type: 'string', maxLength: 200, description: 'the nextCursor of the previous page' },
  },
} as const

export const csvQuerySchema = {
  type: 'object',
  properties: {
    ...filterProps,
    limit: queryInt(1, CSV_MAX_ROWS, `a whole number from 1 to ${CSV_MAX_ROWS} (default and most: ${CSV_MAX_ROWS})`),
    cursor: { type: 'string', maxLength: 200, description: 'where a capped answer ended (its Telbridge-Next-Cursor header)' },
  },
} as const

const agentsQuerySchema = {
  type: 'object',
  properties: {
    source: { type: 'string', maxLength: 64, description: 'a source id' },
    presence: { type: 'string', pattern: `^(?:${PRESENCES.join('|')})?$`, description: `one of ${PRESENCES.join(', ')}` },
  },
} as const

const str = (description: string) => ({ type: ['string', 'null'], description }) as const
const time = (description: string) => ({ type: ['string', 'null'], format: 'date-time', description }) as const
const int = (description: string) => ({ type: ['integer', 'null'], description }) as const

/** A call record as served (documentation for OpenAPI; answers are not filtered by it). */
export const callSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', description: "telbridge's id for the call" },
    source: { type: 'string' },
    channel: str('the channel within the source'),
    channelId: str('<source>:<channel>, as /v1/channels names it'),
    agent: str('agent, extension or staff id'),
    direction: { type: ['string', 'null'], enum: [...CALL_DIRECTIONS, null] },
    phone: str("the other party's number"),
    startedAt: { type: 'string', format: 'date-time' },
    answeredAt: time('null: not answered'),
    endedAt: time('null: in progress, or the end is not known'),
    ringSeconds: int('seconds before the answer (or the end)'),
    talkSeconds: int('seconds talked'),
    disposition: { type: 'string', enum: [...DISPOSITIONS] },
    recordings: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          kind: { type: 'string', enum: ['local', 'vendor'] },
          id: { type: 'string' },
          source: { type: 'string', description: 'the source that serves a vendor recording' },
          contentType: str('the audio type, when known'),
          size: int('bytes, when known'),
          url: { type: 'string', description: 'where the audio streams from on this API (HTTP Range)' },
        },
      },
    },
    vendorIds: { type: 'object', additionalProperties: { type: 'string' }, description: "the vendors' ids for the call by their own names" },
    popData: { type: ['object', 'null'], additionalProperties: true, description: 'what the screen pop carried' },
    memo: str('the memo of the command that started the call, or a vendor remark'),
    inputs: { type: 'array', items: { type: 'string', enum: ['line', 'pop', 'push', 'log', 'upload'] } },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const

const cdrPageSchema = {
  type: 'object',
  properties: { calls: { type: 'array', items: callSchema }, nextCursor: { type: ['string', 'null'], description: 'the cursor of the next page; null on the last' } },
} as const

/** An agent as served. */
export const agentSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', description: '<source>:<agent>' },
    source: { type: 'string' },
    agent: { type: 'string', description: 'the id as the vendor names it' },
    name: str("the vendor's name for the agent"),
    channels: { type: 'array', items: { type: 'string' }, description: 'channel ids (<source>:<channel>)' },
    presence: { type: 'string', enum: [...PRESENCES] },
    loggedIn: { type: ['boolean', 'null'], description: "logged in to the vendor's queue; null: the vendor does not say" },
    currentCall: { anyOf: [callSchema, { type: 'null' }], description: 'the call in progress' },
    lastSeenAt: { type: 'string', format: 'date-time' },
  },
} as const

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/

/**
 * An ISO 8601 time as epoch ms. A date alone is the start of that day in `zone` (`end`: the start of
 * the next day, for `to`); a date-time without an offset is wall-clock time in `zone`. null: not one.
 */
export function parseCdrTime(s: string, zone: string, end = false): number | null {
  const m = DATE_TIME.exec(s.trim())
  if (!m) return null
  const [y, mo, d, h, mi, sec] = [1, 2, 3, 4, 5, 6].map((i) => (m[i] === undefined ? 0 : Number(m[i])))
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'))
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > 31 || h! > 23 || mi! > 59 || sec! > 59) return null
  let wall = Date.UTC(y!, mo! - 1, d, h, mi, sec, ms)
  // Date.UTC rolls 2026-02-31 into March: refuse instead of guessing
  if (new Date(wall).getUTCDate() !== d) return null
  const dateOnly = m[4] === undefined
  if (dateOnly && end) wall += 86_400_000
  const zoneText = m[8]
  if (zoneText === undefined) return wall - localOffset(wall, zone)
  if (zoneText === 'Z') return wall
  const zm = /^([+-])(\d{2}):?(\d{2})$/.exec(zoneText)!
  return wall - (zm[1] === '-' ? -1 : 1) * (Number(zm[2]) * 60 + Number(zm[3])) * 60_000
}

/** The filters of /v1/cdr and /v1/cdr.csv from the query; a bad value is BAD_QUERY naming it. */
export function parseCdrQuery(q: CdrQuery, zone: string, defaultLimit: number): CdrFilters {
  const f: CdrFilters = { limit: q.limit ?? defaultLimit }
  const time = (k: 'from' | 'to') => {
    const v = q[k] || undefined
    if (v === undefined) return undefined
    const t = parseCdrTime(v, zone, k === 'to')
    if (t === null) throw new ApiError('BAD_QUERY', k, `expected ${TIME_TEXT}, got ${JSON.stringify(v.slice(0, 40))}`)
    return t
  }
  f.fromMs = time('from')
  f.toMs = time('to')
  if (f.fromMs !== undefined && f.toMs !== undefined && f.toMs < f.fromMs) throw new ApiError('BAD_QUERY', 'to', 'must not be before from')
  if (q.source) f.source = q.source
  if (q.agent) f.agent = q.agent
  if (q.phone) f.phone = q.phone
  if (q.direction) f.direction = q.direction as CdrFilters['direction']
  if (q.disposition) f.disposition = q.disposition as CdrFilters['disposition']
  if (q.hasRecording) f.hasRecording = q.hasRecording === 'true'
  if (q.cursor) {
    const c = decodeCursor(q.cursor)
    if (!c) throw new ApiError('BAD_QUERY', 'cursor', 'expected the nextCursor of a previous page')
    f.cursor = c
  }
  for (const k of Object.keys(f) as (keyof CdrFilters)[]) if (f[k] === undefined) delete f[k]
  return f
}

// ---- CSV ----

export const CSV_COLUMNS = [
  'id',
  'source',
  'channel',
  'channelId',
  'agent',
  'direction',
  'phone',
  'startedAt',
  'answeredAt',
  'endedAt',
  'ringSeconds',
  'talkSeconds',
  'disposition',
  'recordings',
  'vendorIds',
  'popData',
  'memo',
  'inputs',
  'updatedAt',
] as const

/** One field per RFC 4180; a text a spreadsheet would run as a formula (= + - @, tab, CR) gets a leading '. */
export function csvField(v: string): string {
  const s = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** A call as one CSV line (CRLF): times in `zone` with their offset, recordings as their URLs. */
export function csvLine(c: Call, zone: string): string {
  const t = (ms: number | null) => (ms === null ? '' : isoInZone(ms, zone, false))
  const n = (x: number | null) => (x === null ? '' : String(x))
  const cells = [
    c.id,
    c.source,
    c.channel ?? '',
    c.channel === null ? '' : `${c.source}:${c.channel}`,
    c.agent ?? '',
    c.direction ?? '',
    c.phone ?? '',
    t(c.startedMs),
    t(c.answeredMs),
    t(c.endedMs),
    n(c.ringSeconds),
    n(c.talkSeconds),
    c.disposition,
    c.recordings.map((r) => recordingJson(r).url as string).join(' '),
    Object.keys(c.vendorIds).length ? JSON.stringify(c.vendorIds) : '',
    c.popData ? JSON.stringify(c.popData) : '',
    c.memo ?? '',
    c.inputs.join(','),
    t(c.updatedMs),
  ]
  return cells.map(csvField).join(',') + '\r\n'
}

// ---- routes ----

export interface CallRoutesDeps {
  /** the open database (null before start: 503) */
  db: () => Db | null
  /** why the database is not open (the daemon runs on without it), or null */
  dbError?: () => string | null
  agents: AgentRegistry
  timeZone?: string
}

/** GET /v1/cdr, /v1/cdr/:id, /v1/cdr.csv, /v1/agents, /v1/agents/:id. */
export function cdrRoutes(deps: CallRoutesDeps): RoutePlugin {
  const zone = deps.timeZone ?? hostTimeZone()
  let query: CallQuery | null = null
  const open = (): Db => {
    const db = deps.db()
    if (!db) throw new ApiError('CALL_LOG_UNAVAILABLE', deps.dbError?.() ?? 'not open yet')
    return db
  }
  const q = (): CallQuery => {
    const db = open()
    if (!query || query.db !== db) query = new CallQuery(db)
    return query
  }
  return (app) => {
    const tags = ['calls']
    app.get<{ Querystring: CdrQuery }>(
      '/v1/cdr',
      { schema: { summary: 'The call log, newest first, filtered, with cursor paging', tags, querystring: cdrQuerySchema, response: jsonResponse(cdrPageSchema) } },
      async (req) => {
        const page = q().page(parseCdrQuery(req.query, zone, CDR_DEFAULT_LIMIT))
        return { calls: page.calls.map(callJson), nextCursor: page.next ? encodeCursor(page.next) : null }
      },
    )

    app.get<{ Querystring: CdrQuery }>(
      '/v1/cdr.csv',
      {
        schema: {
          summary: `The call log as CSV (UTF-8 with BOM, CRLF), same filters, at most ${CSV_MAX_ROWS} rows`,
          tags,
          querystring: csvQuerySchema,
          response: { 200: { description: 'text/csv', content: { 'text/csv': { schema: { type: 'string' } } } }, '4xx': jsonResponse()['4xx']! },
        },
      },
      async (req, reply) => {
        const f = parseCdrQuery(req.query, zone, CSV_MAX_ROWS)
        const log = q()
        const cap = f.limit
        const { limit: _limit, ...filters } = f
        const cut = log.cutAt(filters, cap)
        reply.header('content-type', 'text/csv; charset=utf-8')
        reply.header('content-disposition', 'attachment; filename="calls.csv"')
        if (cut) reply.header('telbridge-next-cursor', encodeCursor(cut))
        async function* rows(): AsyncGenerator<string> {
          yield '\ufeff' + CSV_COLUMNS.join(',') + '\r\n'
          let left = cap
          let cursor = filters.cursor
          while (left > 0) {
            // one short statement per page: the writer (call tracker) shares the connection
            const page = log.page({ ...filters, ...(cursor ? { cursor } : {}), limit: Math.min(CSV_PAGE, left) })
            if (page.calls.length) yield page.calls.map((c) => csvLine(c, zone)).join('')
            left -= page.calls.length
            if (!page.next) break
            cursor = page.next
          }
        }
        return reply.send(Readable.from(rows()))
      },
    )

    app.get<{ Params: { id: string } }>(
      '/v1/cdr/:id',
      { schema: { summary: 'One call record with its recordings', tags, params: stringParams('id'), response: jsonResponse(callSchema) } },
      async (req) => {
        const c = req.params.id.length <= 64 ? q().get(req.params.id) : undefined
        if (!c) throw new ApiError('NOT_FOUND', `call ${JSON.stringify(req.params.id.slice(0, 64))}`)
        return callJson(c)
      },
    )

    const agents = deps.agents
    app.get<{ Querystring: { source?: string; presence?: string } }>(
      '/v1/agents',
      {
        schema: {
          summary: 'Every agent, extension or staff id across sources, with presence and current call',
          tags,
          querystring: agentsQuerySchema,
          response: jsonResponse({ type: 'object', properties: { agents: { type: 'array', items: agentSchema } } }),
        },
      },
      async (req) => {
        open()
        const { source, presence } = req.query
        const list = agents
          .list()
          .filter((a) => !source || a.source === source)
          .filter((a) => !presence || agents.presence(a) === presence)
          .sort((a, b) => (a.source === b.source ? a.agent.localeCompare(b.agent, 'en', { numeric: true }) : a.source < b.source ? -1 : 1))
        return { agents: list.map((a) => agents.json(a)) }
      },
    )

    app.get<{ Params: { id: string } }>(
      '/v1/agents/:id',
      { schema: { summary: 'One agent: `<source>:<agent>`, or the agent id alone when one source has it', tags, params: stringParams('id'), response: jsonResponse(agentSchema) } },
      async (req) => {
        open()
        const id = req.params.id
        const exact = agents.get(id)
        if (exact) return agents.json(exact)
        const same = agents.byAgentId(id)
        if (same.length === 1) return agents.json(same[0]!)
        if (same.length > 1) {
          const ids = same.map((a) => a.id).sort()
          throw new ApiError('CONFLICT', `agent ${JSON.stringify(id.slice(0, 64))} is on ${same.length} sources; name one: ${ids.join(', ')}`).with({ ids })
        }
        throw new ApiError('NOT_FOUND', `agent ${JSON.stringify(id.slice(0, 64))}`)
      },
    )
  }
}
