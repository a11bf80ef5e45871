/**
 * Every error the local API can answer with: a stable `code`, an HTTP status and a message template.
 * The README's error table is checked against this list by test/errors.test.ts.
 */
export const ERRORS = {
  BAD_REQUEST: { status: 400, message: 'bad request: %s' },
  BAD_QUERY: { status: 400, message: 'invalid query parameter %s: %s' },
  UNAUTHORIZED: { status: 401, message: 'missing or wrong bearer token' },
  FORBIDDEN: { status: 403, message: '%s' },
  FORBIDDEN_ORIGIN: { status: 403, message: 'origin %s is not allowed (api.cors.origins)' },
  NOT_FOUND: { status: 404, message: '%s not found' },
  ROUTE_NOT_FOUND: { status: 404, message: 'no route %s' },
  METHOD_NOT_ALLOWED: { status: 405, message: '%s' },
  REQUEST_TIMEOUT: { status: 408, message: '%s' },
  CONFLICT: { status: 409, message: '%s' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'request body too large' },
  URI_TOO_LONG: { status: 414, message: 'request URL too long' },
  RANGE_NOT_SATISFIABLE: { status: 416, message: 'range not satisfiable: %s' },
  MISDIRECTED_REQUEST: { status: 421, message: 'host %s is not served here (loopback names, api.host and api.allowedHosts are)' },
  UNSUPPORTED_ACTION: { status: 422, message: '%s' },
  TOO_MANY_REQUESTS: { status: 429, message: '%s' },
  HEADERS_TOO_LARGE: { status: 431, message: 'request headers too large' },
  INTERNAL: { status: 500, message: 'internal error' },
  VENDOR_REFUSED: { status: 502, message: '%s' },
  SOURCE_DOWN: { status: 503, message: '%s' },
  TOO_MANY_CLIENTS: { status: 503, message: '%s' },
  CALL_LOG_UNAVAILABLE: { status: 503, message: 'the call log and agents are unavailable: the database did not open (%s); see /v1/health and docs/troubleshooting.md' },
  VENDOR_TIMEOUT: { status: 504, message: '%s' },
  INSUFFICIENT_STORAGE: { status: 507, message: 'cannot store: %s' },
} as const

export type ErrorCode = keyof typeof ERRORS

export class ApiError extends Error {
  readonly code: ErrorCode
  readonly status: number
  /** extra fields for the error object, e.g. `{vendor: {code, message}}` */
  extra: Record<string, unknown> | undefined
  constructor(code: ErrorCode, ...args: string[]) {
    const def = ERRORS[code]
    let i = 0
    super(def.message.replace(/%s/g, () => args[i++] ?? ''))
    this.code = code
    this.status = def.status
  }
  with(extra: Record<string, unknown>): this {
    this.extra = extra
    return this
  }
  toJSON(): { error: { code: string; message: string } & Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...this.extra } }
  }
}

/** A value as an error message shows it: JSON kinds named, strings quoted and cut at 40 characters. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return 'an object'
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${String(v)}`
  return typeof v // a symbol or a function: no JSON value is either
}

/** 400 `<field>: expected <expected>[, got <value>]`, naming the field in `error.field`. */
export function fieldError(field: string, expected: string, got?: unknown): ApiError {
  const shown = got === undefined ? '' : `, got ${describeValue(got)}`
  return new ApiError('BAD_REQUEST', `${field}: expected ${expected}${shown}`).with({ field })
}
