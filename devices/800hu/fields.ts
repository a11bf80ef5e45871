import { clientJson } from '../../daemon/core/json-depth.js'

/**
 * Box request fields: the vendor lets them come in the query string, a urlencoded or multipart
 * form, or a JSON body. All become strings (the upload sidecar keeps them as sent); a field sent
 * twice keeps its last value; the body wins over the query string.
 */

export type Fields = Record<string, string>

/** At most this many fields are kept from one request. */
export const MAX_FIELDS = 200

/** Throws JsonTooDeep (statusCode 400) for a value nested deeper than MAX_JSON_DEPTH. */
export function addFields(into: Fields, src: unknown): void {
  if (typeof src !== 'object' || src === null || Array.isArray(src) || Buffer.isBuffer(src)) return
  let n = Object.keys(into).length
  for (const [k, v] of Object.entries(src as Record<string, unknown>)) {
    const s = fieldText(v)
    if (s === null) continue
    if (!(k in into)) {
      if (n >= MAX_FIELDS) break
      n++
    }
    into[k] = s
  }
}

function fieldText(v: unknown): string | null {
  if (v === undefined || v === null) return null
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  // a query key sent twice: the last one
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.length ? (v[v.length - 1] as string) : null
  // a JSON body may carry `status` as an object rather than a JSON string; depth-checked first, so a
  // deeply nested value is a JsonTooDeep (400), never a RangeError
  return clientJson(v, 'a field value')
}

/** A fresh field map; `Object.create(null)` so a field named `__proto__` is just a field. */
export function newFields(): Fields {
  return Object.create(null) as Fields
}
