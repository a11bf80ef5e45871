import type { FastifyInstance } from 'fastify'
import { ApiError } from '../../daemon/core/errors.js'
import { MAX_JSON_DEPTH, tooDeep } from '../../daemon/core/json-depth.js'
import type { RoutePlugin } from '../../daemon/core/http.js'
import { anyObject, jsonResponse, stringParams } from '../../daemon/core/route-schema.js'
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
    const tags = ['devices']
    const mac = stringParams('mac')
    app.get('/v1/devices', { schema: { summary: 'The 800hu boxes, by MAC', tags, response: jsonResponse() } }, async () => ({
      devices: [...hub.boxes.values()].sort((a, b) => (a.mac < b.mac ? -1 : 1)).map((b) => hub.deviceJson(b)),
    }))
    app.get<{ Params: { mac: string } }>('/v1/devices/:mac', { schema: { summary: 'One box', tags, params: mac, response: jsonResponse() } }, async (req) => hub.deviceJson(box(req.params.mac)))
    app.get<{ Params: { mac: string } }>('/v1/devices/:mac/commands', { schema: { summary: "The box's waiting commands", tags, params: mac, response: jsonResponse() } }, async (req) => {
      const b = box(req.params.mac)
      return { commands: hub.queues.pending(b.mac).map(commandJson) }
    })
    app.post<{ Params: { mac: string } }>(
      '/v1/devices/:mac/commands',
      { schema: { summary: 'Queue a command (dial…) for the box to fetch at its next poll', tags, params: mac, body: commandBodySchema, response: jsonResponse(anyObject, 202) } },
      async (req, reply) => {
        const b = box(req.params.mac)
        const c = parseCommand(req.body)
        const cmd = hub.queueCommand(b.mac, c)
        reply.code(202)
        return { command: commandJson(cmd), device: { mac: hub.deviceJson(b).mac, status: b.status, polling: hub.isPolling(b.mac) } }
      },
    )
    app.delete<{ Params: { mac: string; id: string } }>(
      '/v1/devices/:mac/commands/:id',
      { schema: { summary: 'Cancel a waiting command', tags, params: stringParams('mac', 'id'), response: jsonResponse() } },
      async (req) => {
        const p = req.params
        const b = box(p.mac)
        const c = hub.queues.cancel(b.mac, p.id)
        if (!c) throw new ApiError('NOT_FOUND', `waiting command ${p.id}`)
        return { command: commandJson(c) }
      },
    )
  }
}

/**
 * The types parseCommand takes. Its own checks, with the messages clients know ("type must be one
 * of…", "unknown key…"), stay with it: so no enum on type and unknown keys are its to refuse.
 */
const commandBodySchema = {
  type: 'object',
  description: 'a JSON object {"type","channel","phone","memo"}',
  properties: {
    type: { type: 'string', description: `one of ${COMMAND_TYPES.join(', ')}` },
    channel: { type: ['integer', 'string'], description: 'the RJ11 port number (from 1)' },
    phone: { type: ['string', 'number', 'null'], description: 'a phone number: digits, * # + , (1–40); needed by dial' },
    memo: { type: ['object', 'string', 'null'], description: 'an object or a string, carried to the box as is (at most 4096 characters as JSON)' },
  },
} as const

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
