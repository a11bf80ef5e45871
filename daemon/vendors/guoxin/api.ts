import type { FastifyInstance } from 'fastify'
import { CALL_ID_PATTERN, NUMBER_PATTERN } from '../../../protocols/guoxin/index.js'
import { UnsupportedAction } from '../../core/control.js'
import { ApiError } from '../../core/errors.js'
import type { RoutePlugin } from '../../core/http.js'
import { jsonResponse, queryInt, stringParams } from '../../core/route-schema.js'
import type { Source } from '../../core/source.js'

/** Finds a source by id (the daemon's registry). */
type SourceLookup = { get(id: string): Source | undefined }
import { GuoxinSource } from './source.js'

const DATE = /^\d{4}-\d{2}-\d{2}$/
const DIRECTIONS: Record<string, 0 | 1 | 2> = { all: 0, answered: 1, placed: 2 }

function guoxinSource(sources: SourceLookup, id: string, what: string): GuoxinSource {
  const s = sources.get(id)
  if (!s) throw new ApiError('NOT_FOUND', `source ${id}`).with({ source: id })
  if (!(s instanceof GuoxinSource)) throw new UnsupportedAction(id, what, `a ${s.type} source has no ${what} here`)
  return s
}

function callIdParam(v: unknown): string {
  if (typeof v !== 'string' || !CALL_ID_PATTERN.test(v)) {
    throw new ApiError('BAD_REQUEST', 'callid: expected a Guoxin call id (1–128 of A-Z a-z 0-9 @ . _ : -)').with({ field: 'callid' })
  }
  return v
}

function q(query: Record<string, unknown>, name: string): string | undefined {
  const v = query[name]
  if (v === undefined || v === '') return undefined
  if (typeof v !== 'string') throw new ApiError('BAD_QUERY', name, 'expected a single value')
  return v
}

type CallParams = { id: string; callid: string }

// the call id's form is callIdParam's to check (its message names callid), after the source's 404
const callParams = stringParams('id', 'callid')

/** What fastify checks of the call-log query; the handler checks the forms, with its messages. */
const callLogQuery = {
  type: 'object',
  properties: {
    begin: { type: 'string', description: "a date yyyy-MM-dd (the server's local date); required" },
    end: { type: 'string', description: 'a date yyyy-MM-dd (default: begin)' },
    telnum: { type: 'string', description: 'a phone or extension number' },
    direction: { type: 'string', description: 'all (default), answered or placed' },
    first: queryInt(0, 1e9, 'a whole number from 0 to 1000000000 (default 0)'),
    max: queryInt(1, 10000, 'a whole number from 1 to 10000 (default 1000)'),
  },
} as const

function intQ(query: Record<string, unknown>, name: string, min: number, max: number, dflt: number): number {
  const raw = query[name]
  if (raw === undefined || raw === null || raw === '') return dflt
  // the route schema has made it a number
  const v = typeof raw === 'number' || typeof raw === 'string' ? String(raw) : ''
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max) throw new ApiError('BAD_QUERY', name, `expected a whole number from ${min} to ${max}`)
  return Number(v)
}

/**
 * API routes of Guoxin sources (behind the bearer token): `GET /v1/sources/:id/call-log?begin=&end=`
 * (CALL_LOG_QUERY) and `…/call-log/:callid`. The recordings are served by the generic
 * `GET /v1/sources/:id/recordings/:callid` (sources-api.ts) through `GuoxinSource.openRecording`.
 */
export function guoxinApiRoutes(sources: SourceLookup): RoutePlugin {
  return (app: FastifyInstance) => {
    const tags = ['guoxin']
    app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
      '/v1/sources/:id/call-log',
      { schema: { summary: "The server's call log for a date range (CALL_LOG_QUERY)", tags, params: stringParams('id'), querystring: callLogQuery, response: jsonResponse() } },
      async (req) => {
        const p = req.params
        const s = guoxinSource(sources, p.id, 'call-log')
        const query = req.query
        const begin = q(query, 'begin')
        const end = q(query, 'end') ?? begin
        if (!begin || !DATE.test(begin)) throw new ApiError('BAD_QUERY', 'begin', "expected a date yyyy-MM-dd (the server's local date)")
        if (!end || !DATE.test(end)) throw new ApiError('BAD_QUERY', 'end', 'expected a date yyyy-MM-dd')
        const telnum = q(query, 'telnum')
        if (telnum !== undefined && !NUMBER_PATTERN.test(telnum)) throw new ApiError('BAD_QUERY', 'telnum', 'expected a phone or extension number')
        const dir = q(query, 'direction') ?? 'all'
        const direction = DIRECTIONS[dir]
        if (direction === undefined) throw new ApiError('BAD_QUERY', 'direction', 'expected all, answered or placed')
        const first = intQ(query, 'first', 0, 1e9, 0)
        const max = intQ(query, 'max', 1, 10000, 1000)
        const r = await s.callLog({ beginDate: begin, endDate: end, telnum, direction, first, maxResults: max })
        return { source: s.id, first, count: r.logs.length, logs: r.logs.map(logJson), skipped: r.skipped }
      },
    )

    app.get<{ Params: CallParams }>('/v1/sources/:id/call-log/:callid', { schema: { summary: 'One call of the call log', tags, params: callParams, response: jsonResponse() } }, async (req) => {
      const p = req.params
      const s = guoxinSource(sources, p.id, 'call-log')
      const callid = callIdParam(p.callid)
      const log = await s.callLogEntry(callid)
      if (!log) throw new ApiError('NOT_FOUND', `call ${callid}`).with({ source: s.id, callid })
      return { source: s.id, log: logJson(log) }
    })
  }
}

function logJson(l: import('../../../protocols/guoxin/index.js').CallLog): Record<string, unknown> {
  return { ...l, beginTime: l.beginTime === null ? null : new Date(l.beginTime).toISOString(), beginTimeMs: l.beginTime }
}

/** Up to `max` characters of a short error answer, then the stream is dropped. */
