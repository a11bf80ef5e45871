import type { FastifyInstance } from 'fastify'
import { ApiError } from '../../daemon/core/errors.js'
import { MAX_JSON_DEPTH, tooDeep } from '../../daemon/core/json-depth.js'
import type { RoutePlugin } from '../../daemon/core/http.js'
import type { BoxSource } from './box.js'
import { PHONE } from './box.js'
import { COMMAND_TYPES, commandJson, type CommandType } from './commands.js'
import type { BoxHub } from './hub.js'

/** Largest memo accepted, as JSON text (it is carried to the box as is). */
const MEMO_MAX = 4096

/**
 * The boxes on the local API: `GET /v1/devices`, `GET /v1/devices/:mac`, and their command queue
 * (`POST|GET /v1/devices/:mac/commands`, `DELETE /v1/devices/:mac/commands/:id`).
 */
export function devicesRoutes(hub: BoxHub): RoutePlugin {
  return (app: FastifyInstance) => {
    const box = (raw: string): BoxSource => {
      const b = hub.find(raw)
      if (!b) throw new ApiError('NOT_FOUND', `box ${raw}`)
      return b
    }
    app.get('/v1/devices', async () => ({
      devices: [...hub.boxes.values()].sort((a, b) => (a.mac < b.mac ? -1 : 1)).map((b) => hub.deviceJson(b)),
    }))
    app.get('/v1/devices/:mac', async (req) => hub.deviceJson(box((req.params as { mac: string }).mac)))
    app.get('/v1/devices/:mac/commands', async (req) => {
      const b = box((req.params as { mac: string }).mac)
      return { commands: hub.queues.pending(b.mac).map(commandJson) }
    })
    app.post('/v1/devices/:mac/commands', async (req, reply) => {
      const b = box((req.params as { mac: string }).mac)
      const c = parseCommand(req.body)
      const cmd = hub.queueCommand(b.mac, c)
      reply.code(202)
      return { command: commandJson(cmd), device: { mac: hub.deviceJson(b).mac, status: b.status, polling: hub.isPolling(b.mac) } }
    })
    app.delete('/v1/devices/:mac/commands/:id', async (req) => {
      const p = req.params as { mac: string; id: string }
      const b = box(p.mac)
      const c = hub.queues.cancel(b.mac, p.id)
      if (!c) throw new ApiError('NOT_FOUND', `waiting command ${p.id}`)
      return { command: commandJson(c) }
    })
  }
}

/** `{"type":"dial","channel":1,"phone":"138…","memo":…}` checked field by field. */
export function parseCommand(body: unknown): { type: CommandType; channel: string; phone: string; memo?: unknown } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError('BAD_REQUEST', 'expected a JSON object {"type","channel","phone","memo"}')
  const o = body as Record<string, unknown>
  for (const k of Object.keys(o)) if (!['type', 'channel', 'phone', 'memo'].includes(k)) throw new ApiError('BAD_REQUEST', `unknown key ${JSON.stringify(k)} (known: type, channel, phone, memo)`)
  const type = o.type
  if (typeof type !== 'string' || !(COMMAND_TYPES as readonly string[]).includes(type)) throw new ApiError('BAD_REQUEST', `type must be one of ${COMMAND_TYPES.join(', ')}`)
  const ch = o.channel
  const channel = typeof ch === 'number' && Number.isInteger(ch) ? String(ch) : typeof ch === 'string' ? ch.trim() : ''
  if (!/^\d{1,4}$/.test(channel) || Number(channel) < 1) throw new ApiError('BAD_REQUEST', 'channel must be the RJ11 port number (from 1)')
  let phone = ''
  if (o.phone !== undefined && o.phone !== null) {
    if (typeof o.phone !== 'string' && typeof o.phone !== 'number') throw new ApiError('BAD_REQUEST', 'phone must be a string')
    phone = String(o.phone).trim()
  }
  if (type === 'dial' && !PHONE.test(phone)) throw new ApiError('BAD_REQUEST', 'dial needs phone: digits, * # + , (1–40)')
  if (type !== 'dial' && phone !== '' && !PHONE.test(phone)) throw new ApiError('BAD_REQUEST', 'phone: digits, * # + , (1–40)')
  const memo = o.memo
  if (memo !== undefined && memo !== null) {
    if (typeof memo !== 'string' && (typeof memo !== 'object' || Array.isArray(memo))) throw new ApiError('BAD_REQUEST', 'memo must be an object or a string')
    if (tooDeep(memo)) throw new ApiError('BAD_REQUEST', `memo nests deeper than ${MAX_JSON_DEPTH} levels`)
    if (JSON.stringify(memo).length > MEMO_MAX) throw new ApiError('BAD_REQUEST', `memo is longer than ${MEMO_MAX} characters as JSON`)
  }
  return { type: type as CommandType, channel: String(Number(channel)), phone, ...(memo !== undefined && memo !== null ? { memo } : {}) }
}
