/**
 * Pieces of route schemas (fastify `schema`: params, querystring, body, response) shared by the
 * routes of both listeners. Fastify validates with them (daemon/core/http.ts: installSchemas) and
 * @fastify/swagger writes them into /openapi.json. A `description` is also what a 400 says was
 * expected, so it reads as the end of "expected …".
 */

/** Our error answer (errors.ts): `{"error":{"code","message",…}}`. */
export const errorSchema = {
  description: 'an error (see the README error table)',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: true,
      properties: {
        code: { type: 'string', description: 'a stable code such as BAD_REQUEST, NOT_FOUND, UNAUTHORIZED' },
        message: { type: 'string' },
        field: { type: 'string', description: 'the field a 400 is about' },
      },
    },
  },
} as const

/** An object answer whose fields are not spelled out here (documented in the README). */
export const anyObject = { type: 'object', additionalProperties: true } as const

/** `response` for a JSON route: its 200 (or 202) body and our error for 4xx/5xx. */
export function jsonResponse(ok: object = anyObject, status: 200 | 202 = 200): Record<string, object> {
  return { [status]: ok, '4xx': errorSchema, '5xx': errorSchema }
}

/** A path parameter that is a plain string (an unknown one is the handler's 404). */
export function stringParams<K extends string>(...names: K[]): { type: 'object'; required: K[]; properties: Record<K, { type: 'string' }> } {
  return { type: 'object', required: names, properties: Object.fromEntries(names.map((n) => [n, { type: 'string' }])) as Record<K, { type: 'string' }> }
}

/**
 * An optional whole-number query parameter: `?limit=` (empty) is coerced to null, which the
 * handler takes as absent, as it always did.
 */
export function queryInt(minimum: number, maximum: number, description: string): { type: ['integer', 'null']; minimum: number; maximum: number; description: string } {
  return { type: ['integer', 'null'], minimum, maximum, description }
}
