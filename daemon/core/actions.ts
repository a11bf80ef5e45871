import { fieldError } from './errors.js'
import { VendorTimeout } from './control.js'

/**
 * Vendor actions: what a source can do beyond the common call-control routes, named and shaped as
 * the vendor's document names them (LQ vo_id, Guoxin opt, Yantong action; fields `tts`, `oper`,
 * `if_wait` …), so the vendor manual maps one to one. `GET /v1/sources/:id/actions` lists them and
 * `POST /v1/sources/:id/actions/:name` runs one (daemon/actions-api.ts). A source that has some
 * implements `Source.vendorActions()`.
 */

export type ActionParamType = 'string' | 'integer' | 'number' | 'boolean'

export interface ActionParam {
  /** the vendor's own field name */
  readonly name: string
  readonly type: ActionParamType
  readonly required?: boolean
  /** what it means, in one line */
  readonly description: string
  readonly enum?: readonly (string | number)[]
  /** strings: the pattern, and how to say it in an error */
  readonly pattern?: RegExp
  readonly patternText?: string
  /** strings: at most this many characters (the vendor's byte limits are checked by the action) */
  readonly maxLength?: number
  /** numbers */
  readonly min?: number
  readonly max?: number
  /** what the vendor takes when the field is absent (documentation only: the action applies it) */
  readonly default?: string | number | boolean
}

export interface ActionOutcome {
  /** the vendor's answer decoded into JSON */
  readonly result: unknown
  /** the vendor's answer as it came (its code, message, raw text), for debugging */
  readonly vendor?: unknown
}

export interface VendorAction {
  /** the vendor's own name: vo_id, opt, action */
  readonly name: string
  /** one line: what it does */
  readonly description: string
  /** `control` acts (never retried: a timed-out dial may have been placed); `query` only asks (retried) */
  readonly kind: 'control' | 'query'
  readonly params: readonly ActionParam[]
  /** how often a query is asked in all (default 3); 1 when the vendor's own client already asks again */
  readonly attempts?: number
  /** run with validated params (absent optional fields are absent); throw VendorRefused / VendorTimeout / ApiError */
  run(params: Readonly<Record<string, string | number | boolean>>): Promise<ActionOutcome>
}

/** How a vendor action is described by GET /v1/sources/:id/actions (no functions, no RegExp objects). */
export function describeAction(a: VendorAction): Record<string, unknown> {
  return {
    name: a.name,
    description: a.description,
    kind: a.kind,
    params: a.params.map((p) => ({
      name: p.name,
      type: p.type,
      required: p.required === true,
      description: p.description,
      ...(p.enum ? { enum: p.enum } : {}),
      ...(p.pattern ? { pattern: p.pattern.source } : {}),
      ...(p.maxLength !== undefined ? { maxLength: p.maxLength } : {}),
      ...(p.min !== undefined ? { min: p.min } : {}),
      ...(p.max !== undefined ? { max: p.max } : {}),
      ...(p.default !== undefined ? { default: p.default } : {}),
    })),
  }
}

/** No control characters but tab and newline in a vendor string (they end up in URLs, XML, SMS text). */
const TEXT = /^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$/

/**
 * The body of POST …/actions/:name checked against the action's params: an unknown field, a missing
 * required one, a wrong type or a value out of range is a 400 naming the field. Numbers may come as
 * strings of digits (vendor manuals write them so); strings may come as numbers (a phone number).
 */
export function checkActionParams(action: VendorAction, body: unknown): Record<string, string | number | boolean> {
  if (body === undefined || body === null) body = {}
  if (typeof body !== 'object' || Array.isArray(body)) throw fieldError('body', "a JSON object of the action's fields", body)
  const given = body as Record<string, unknown>
  const known = new Map(action.params.map((p) => [p.name, p]))
  for (const k of Object.keys(given)) {
    if (!known.has(k)) throw fieldError(k, `no such field for ${action.name} (known: ${action.params.map((p) => p.name).join(', ') || 'none'})`)
  }
  const out: Record<string, string | number | boolean> = {}
  for (const p of action.params) {
    const v = Object.prototype.hasOwnProperty.call(given, p.name) ? given[p.name] : undefined
    if (v === undefined || v === null || v === '') {
      if (p.required) throw fieldError(p.name, `${p.description} (required)`)
      continue
    }
    out[p.name] = checkParam(p, v)
  }
  return out
}

function checkParam(p: ActionParam, v: unknown): string | number | boolean {
  switch (p.type) {
    case 'boolean': {
      if (typeof v === 'boolean') return v
      if (v === 'true' || v === 1 || v === '1') return true
      if (v === 'false' || v === 0 || v === '0') return false
      throw fieldError(p.name, 'true or false', v)
    }
    case 'integer':
    case 'number': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : NaN
      const what = p.type === 'integer' ? 'a whole number' : 'a number'
      if (!Number.isFinite(n) || (p.type === 'integer' && !Number.isInteger(n))) throw fieldError(p.name, range(what, p), v)
      if ((p.min !== undefined && n < p.min) || (p.max !== undefined && n > p.max)) throw fieldError(p.name, range(what, p), v)
      if (p.enum && !p.enum.includes(n)) throw fieldError(p.name, `one of ${p.enum.join(', ')}`, v)
      return n
    }
    case 'string': {
      const s = typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : null
      if (s === null) throw fieldError(p.name, 'a string', v)
      if (!TEXT.test(s)) throw fieldError(p.name, 'text without control characters', v)
      if (p.maxLength !== undefined && s.length > p.maxLength) throw fieldError(p.name, `at most ${p.maxLength} characters`, v)
      if (p.enum && !p.enum.includes(s)) throw fieldError(p.name, `one of ${p.enum.join(', ')}`, v)
      if (p.pattern && !p.pattern.test(s)) throw fieldError(p.name, p.patternText ?? `text matching ${p.pattern.source}`, v)
      return s
    }
  }
}

function range(what: string, p: ActionParam): string {
  if (p.min !== undefined && p.max !== undefined) return `${what} from ${p.min} to ${p.max}`
  if (p.min !== undefined) return `${what} ≥ ${p.min}`
  if (p.max !== undefined) return `${what} ≤ ${p.max}`
  return what
}

/** Queries are asked again after a timeout or an unreachable vendor (twice more, 200 then 400 ms apart); controls never. */
export async function runVendorAction(action: VendorAction, params: Record<string, string | number | boolean>, opts: { attempts?: number; baseMs?: number } = {}): Promise<ActionOutcome> {
  const attempts = action.kind === 'query' ? (opts.attempts ?? action.attempts ?? 3) : 1
  const base = opts.baseMs ?? 200
  for (let i = 1; ; i++) {
    try {
      return await action.run(params)
    } catch (err) {
      if (!(err instanceof VendorTimeout) || i >= attempts) throw err
      await new Promise((r) => setTimeout(r, base * 2 ** (i - 1)))
    }
  }
}
