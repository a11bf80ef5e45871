import { open, type FileHandle } from 'node:fs/promises'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ApiError } from '../errors.js'
import type { RoutePlugin } from '../http.js'
import { errorSchema, jsonResponse, queryInt, stringParams } from '../route-schema.js'
import { DEFAULT_LIMIT, MAX_LIMIT, hasAudio, type Entry, type RecordingFilters } from './catalog.js'
import { InvalidRecording } from './errors.js'
import { parseRange } from './range.js'
import { DIRECTIONS, checkCallid, parseTime, type BoxIds, type Direction } from './record.js'
import type { RecordingStore } from './store.js'

function time(q: RecordingQuery, name: 'from' | 'to'): number | undefined {
  const v = q[name] || undefined
  if (v === undefined) return undefined
  const t = parseTime(v)
  if (t === null) throw new ApiError('BAD_QUERY', name, `expected epoch milliseconds or an ISO 8601 time (2024-05-01, 2024-05-01T08:00:00+08:00), got ${JSON.stringify(v.slice(0, 40))}`)
  return t
}

/** The list's query as the route schema leaves it (an empty parameter: absent). */
export interface RecordingQuery {
  box?: string
  channel?: number | null
  phone?: string
  direction?: string
  callid?: string
  from?: string
  to?: string
  order?: string
  offset?: number | null
  limit?: number | null
}

const TIME_TEXT = 'epoch milliseconds or an ISO 8601 time (2024-05-01, 2024-05-01T08:00:00+08:00)'

/** What fastify checks of the list's query; the forms (MAC, call id, times) are checked by parseRecordingQuery. */
export const recordingQuerySchema = {
  type: 'object',
  properties: {
    box: { type: 'string', description: 'a MAC address (12 hex digits, with or without : or -)' },
    channel: queryInt(0, 9999, 'a whole number from 0 to 9999'),
    phone: { type: 'string', maxLength: 64, description: 'a phone number (at most 64 characters)' },
    direction: { type: 'string', pattern: `^(?:${DIRECTIONS.join('|')})?$`, description: `one of ${DIRECTIONS.join(', ')}` },
    callid: { type: 'string', description: 'a call id' },
    from: { type: 'string', description: TIME_TEXT },
    to: { type: 'string', description: `${TIME_TEXT}, not before from` },
    order: { type: 'string', pattern: '^(?:asc|desc)?$', description: 'asc or desc (by time)' },
    offset: queryInt(0, 1e9, 'a whole number from 0 (recordings to skip)'),
    limit: queryInt(1, MAX_LIMIT, `a whole number from 1 to ${MAX_LIMIT} (default ${DEFAULT_LIMIT})`),
  },
} as const

/** The list filters from a query string; every bad value is a BAD_QUERY naming the parameter. */
export function parseRecordingQuery(q: RecordingQuery, boxes: BoxIds): RecordingFilters {
  const f: RecordingFilters = {}
  const box = q.box || undefined
  if (box !== undefined) {
    const id = boxes.normalise(box)
    if (!id) throw new ApiError('BAD_QUERY', 'box', `expected ${boxes.describe}`)
    f.box = id
  }
  f.channel = q.channel ?? undefined
  const phone = q.phone || undefined
  if (phone !== undefined) {
    if (phone.length > 64) throw new ApiError('BAD_QUERY', 'phone', 'expected at most 64 characters')
    f.phone = phone
  }
  const dir = q.direction || undefined
  if (dir !== undefined) {
    if (!(DIRECTIONS as readonly string[]).includes(dir)) throw new ApiError('BAD_QUERY', 'direction', `expected one of ${DIRECTIONS.join(', ')}`)
    f.direction = dir as Direction
  }
  const callid = q.callid || undefined
  if (callid !== undefined) {
    try {
      f.callid = checkCallid(callid)
    } catch (err) {
      throw new ApiError('BAD_QUERY', 'callid', (err as InvalidRecording).message)
    }
  }
  f.from = time(q, 'from')
  f.to = time(q, 'to')
  if (f.from !== undefined && f.to !== undefined && f.to < f.from) throw new ApiError('BAD_QUERY', 'to', 'must not be before from')
  const order = q.order || undefined
  if (order !== undefined && order !== 'asc' && order !== 'desc') throw new ApiError('BAD_QUERY', 'order', 'expected asc or desc')
  f.order = order
  f.offset = q.offset ?? 0
  f.limit = q.limit ?? DEFAULT_LIMIT
  for (const k of Object.keys(f) as (keyof RecordingFilters)[]) if (f[k] === undefined) delete f[k]
  return f
}

function withUrl<T extends { id: string }>(r: T): T & { audioUrl: string } {
  return { ...r, audioUrl: `/v1/recordings/${encodeURIComponent(r.id)}/audio` }
}

/** GET /v1/recordings (filters, paging), /v1/recordings/:callid, /v1/recordings/:callid/audio (Range). */
export function recordingRoutes(store: RecordingStore): RoutePlugin {
  const lookup = (req: FastifyRequest<{ Params: { callid: string } }>) => {
    const id = req.params.callid
    const e = store.entry(id)
    if (!e || !hasAudio(e.record)) throw new ApiError('NOT_FOUND', `recording ${JSON.stringify(id.slice(0, 140))}`)
    return e
  }
  return (app) => {
    const tags = ['recordings']
    const params = stringParams('callid')
    app.get<{ Querystring: RecordingQuery }>(
      '/v1/recordings',
      { schema: { summary: 'Stored recordings, filtered and paged (newest first by default)', tags, querystring: recordingQuerySchema, response: jsonResponse() } },
      async (req) => {
        // call records kept without audio (recorded=0) are for the 800hu call-record API, not listed here
        const r = store.find({ ...parseRecordingQuery(req.query, store.boxes), audio: true })
        return { total: r.total, offset: r.offset, limit: r.limit, recordings: r.recordings.map(withUrl) }
      },
    )

    app.get<{ Params: { callid: string } }>('/v1/recordings/:callid', { schema: { summary: 'One recording by id', tags, params, response: jsonResponse() } }, async (req) =>
      withUrl(lookup(req).record),
    )

    // HEAD is declared, not left to fastify's automatic one, which would read the whole file to discard it
    app.route({
      method: ['GET', 'HEAD'],
      url: '/v1/recordings/:callid/audio',
      schema: {
        summary: "A recording's audio (Range, If-None-Match, If-Range)",
        tags,
        params,
        response: {
          200: { description: 'the audio file, in its own content type', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          206: { description: 'the requested range' },
          304: { description: 'not modified (If-None-Match)' },
          '4xx': errorSchema,
        },
      },
      handler: async (req: FastifyRequest<{ Params: { callid: string } }>, reply: FastifyReply) => sendAudio(lookup(req), req, reply),
    })
  }
}

/** One stored recording's audio with Range, If-None-Match and If-Range (also the 800hu vendor URLs). */
export async function sendAudio(e: Entry, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const r = e.record
  let fh: FileHandle
  try {
    fh = await open(e.audioPath, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    req.log.error({ id: r.id, file: r.file }, 'indexed recording has no audio file (removed by hand?)')
    throw new ApiError('NOT_FOUND', `audio of recording ${r.id}`)
  }
  let size: number
  try {
    size = (await fh.stat()).size
  } catch (err) {
    await fh.close()
    throw err
  }
  if (size !== r.size) req.log.warn({ id: r.id, size, indexed: r.size }, 'recording changed on disk since it was stored')
  const etag = `"${r.sha256}"`
  reply.header('accept-ranges', 'bytes')
  reply.header('etag', etag)
  reply.header('content-type', r.contentType)
  reply.header('content-disposition', `inline; filename="${r.id}.${r.ext}"`)
  reply.header('cache-control', 'private, no-transform')
  const inm = req.headers['if-none-match']
  if (inm !== undefined && (inm.trim() === '*' || inm.split(',').some((x) => x.trim().replace(/^W\//, '') === etag))) {
    await fh.close()
    return reply.code(304).send()
  }
  let range = parseRange(req.headers.range, size)
  // If-Range: the range holds only for the same content; we send no Last-Modified, so a date never matches
  const ifRange = req.headers['if-range']
  if (range !== null && ifRange !== undefined && ifRange !== etag) range = null
  if (range === 'unsatisfiable') {
    await fh.close()
    reply.header('content-range', `bytes */${size}`)
    throw new ApiError('RANGE_NOT_SATISFIABLE', `${req.headers.range} of ${size} bytes`).with({ size })
  }
  const start = range?.start ?? 0
  const end = range?.end ?? size - 1
  if (range) {
    reply.code(206)
    reply.header('content-range', `bytes ${start}-${end}/${size}`)
  }
  reply.header('content-length', String(end - start + 1))
  if (req.method === 'HEAD' || size === 0) {
    await fh.close()
    return reply.send()
  }
  return reply.send(fh.createReadStream({ start, end }))
}
