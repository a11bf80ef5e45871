import { open, type FileHandle } from 'node:fs/promises'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ApiError } from '../errors.js'
import type { RoutePlugin } from '../http.js'
import { DEFAULT_LIMIT, MAX_LIMIT, type RecordingFilters } from './catalog.js'
import { InvalidRecording } from './errors.js'
import { parseRange } from './range.js'
import { DIRECTIONS, checkCallid, parseTime, type BoxIds, type Direction } from './record.js'
import type { RecordingStore } from './store.js'

function one(q: Record<string, unknown>, name: string): string | undefined {
  const v = q[name]
  if (v === undefined || v === '') return undefined
  if (typeof v !== 'string') throw new ApiError('BAD_QUERY', name, 'expected a single value')
  return v
}

function int(q: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const v = one(q, name)
  if (v === undefined) return undefined
  const n = /^\d{1,10}$/.test(v) ? Number(v) : NaN
  if (!(n >= min && n <= max)) throw new ApiError('BAD_QUERY', name, `expected a whole number from ${min} to ${max}, got ${JSON.stringify(v.slice(0, 40))}`)
  return n
}

function time(q: Record<string, unknown>, name: string): number | undefined {
  const v = one(q, name)
  if (v === undefined) return undefined
  const t = parseTime(v)
  if (t === null) throw new ApiError('BAD_QUERY', name, `expected epoch milliseconds or an ISO 8601 time (2024-05-01, 2024-05-01T08:00:00+08:00), got ${JSON.stringify(v.slice(0, 40))}`)
  return t
}

/** The list filters from a query string; every bad value is a BAD_QUERY naming the parameter. */
export function parseRecordingQuery(q: Record<string, unknown>, boxes: BoxIds): RecordingFilters {
  const f: RecordingFilters = {}
  const box = one(q, 'box')
  if (box !== undefined) {
    const id = boxes.normalise(box)
    if (!id) throw new ApiError('BAD_QUERY', 'box', `expected ${boxes.describe}`)
    f.box = id
  }
  f.channel = int(q, 'channel', 0, 9999)
  const phone = one(q, 'phone')
  if (phone !== undefined) {
    if (phone.length > 64) throw new ApiError('BAD_QUERY', 'phone', 'expected at most 64 characters')
    f.phone = phone
  }
  const dir = one(q, 'direction')
  if (dir !== undefined) {
    if (!(DIRECTIONS as readonly string[]).includes(dir)) throw new ApiError('BAD_QUERY', 'direction', `expected one of ${DIRECTIONS.join(', ')}`)
    f.direction = dir as Direction
  }
  const callid = one(q, 'callid')
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
  const order = one(q, 'order')
  if (order !== undefined && order !== 'asc' && order !== 'desc') throw new ApiError('BAD_QUERY', 'order', 'expected asc or desc')
  f.order = order as 'asc' | 'desc' | undefined
  f.offset = int(q, 'offset', 0, 1e9) ?? 0
  f.limit = int(q, 'limit', 1, MAX_LIMIT) ?? DEFAULT_LIMIT
  for (const k of Object.keys(f) as (keyof RecordingFilters)[]) if (f[k] === undefined) delete f[k]
  return f
}

function withUrl<T extends { id: string }>(r: T): T & { audioUrl: string } {
  return { ...r, audioUrl: `/v1/recordings/${encodeURIComponent(r.id)}/audio` }
}

/** GET /v1/recordings (filters, paging), /v1/recordings/:callid, /v1/recordings/:callid/audio (Range). */
export function recordingRoutes(store: RecordingStore): RoutePlugin {
  const lookup = (req: FastifyRequest) => {
    const id = (req.params as { callid: string }).callid
    const e = store.entry(id)
    if (!e) throw new ApiError('NOT_FOUND', `recording ${JSON.stringify(id.slice(0, 140))}`)
    return e
  }
  return (app) => {
    app.get('/v1/recordings', async (req) => {
      const r = store.find(parseRecordingQuery(req.query as Record<string, unknown>, store.boxes))
      return { total: r.total, offset: r.offset, limit: r.limit, recordings: r.recordings.map(withUrl) }
    })

    app.get('/v1/recordings/:callid', async (req) => withUrl(lookup(req).record))

    // HEAD is declared, not left to fastify's automatic one, which would read the whole file to discard it
    app.route({
      method: ['GET', 'HEAD'],
      url: '/v1/recordings/:callid/audio',
      handler: async (req: FastifyRequest, reply: FastifyReply) => {
        const e = lookup(req)
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
      },
    })
  }
}
