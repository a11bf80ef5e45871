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

/** Form bodies parsed by parseForm with at most MAX_FIELDS fields: usable as a request's fields as they are. */
const boundedForms = new WeakSet<Fields>()

/**
 * An application/x-www-form-urlencoded body, read as URLSearchParams reads it (a field sent twice:
 * the last value), but with the native decodeURIComponent: URLSearchParams's JS decoding was the
 * largest part of a status post's parse. Anything decodeURIComponent refuses (a stray `%`, bytes
 * that are not UTF-8), and a body starting with `?`, is read by URLSearchParams itself.
 */
export function parseForm(body: string): Fields {
  const out = newFields()
  let n = 0
  if (body.charCodeAt(0) !== 63 /* ? */) {
    try {
      for (let start = 0; start < body.length;) {
        let amp = body.indexOf('&', start)
        if (amp === -1) amp = body.length
        if (amp > start) {
          let eq = body.indexOf('=', start)
          if (eq === -1 || eq > amp) eq = amp
          const k = formDecode(body.slice(start, eq))
          if (!(k in out)) n++
          out[k] = eq < amp ? formDecode(body.slice(eq + 1, amp)) : ''
        }
        start = amp + 1
      }
      if (n <= MAX_FIELDS) boundedForms.add(out)
      return out
    } catch {
      // not decodable as UTF-8 percent escapes: URLSearchParams's lenient reading below
    }
  }
  const slow = newFields()
  for (const [k, v] of new URLSearchParams(body)) slow[k] = v
  return slow
}

function formDecode(s: string): string {
  if (s.includes('+')) s = s.replace(/\+/g, ' ')
  return s.includes('%') ? decodeURIComponent(s) : s
}

/**
 * A request's fields: the body's, with the query string's where the body has none. A form body
 * from parseForm within MAX_FIELDS, with no query string, is taken as it is (the status-post path);
 * otherwise both are copied in with addFields.
 */
export function requestFields(query: unknown, body: unknown): Fields {
  if (boundedForms.has(body as Fields) && !hasKeys(query)) return body as Fields
  const fields = newFields()
  addFields(fields, query)
  addFields(fields, body)
  return fields
}

function hasKeys(o: unknown): boolean {
  if (typeof o !== 'object' || o === null) return false
  for (const _ in o) return true
  return false
}
