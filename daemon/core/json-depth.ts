import { MAX_JSON_DEPTH, tooDeep } from '../../protocols/json/depth.js'

// the check itself is a protocol helper (decoders in protocols/ need it too)
export { MAX_JSON_DEPTH, tooDeep }

/** A client's value too deeply nested to handle: a 400 wherever it surfaces (statusCode for fastify's error handlers). */
export class JsonTooDeep extends Error {
  override name = 'JsonTooDeep'
  readonly statusCode = 400
  readonly code = 'TB_JSON_TOO_DEEP'
  constructor(what = 'JSON body') {
    super(`${what} nests deeper than ${MAX_JSON_DEPTH} levels`)
  }
}

/** `JSON.stringify` for a client's value: throws JsonTooDeep instead of a RangeError. */
export function clientJson(v: unknown, what?: string): string {
  if (tooDeep(v)) throw new JsonTooDeep(what)
  return JSON.stringify(v)
}
