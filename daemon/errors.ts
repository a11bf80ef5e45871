/**
 * Every error the local API can answer with: a stable `code`, an HTTP status and a message template.
 * The README's error table is checked against this list by test/errors.test.ts.
 */
export const ERRORS = {
  BAD_REQUEST: { status: 400, message: 'bad request: %s' },
  BAD_QUERY: { status: 400, message: 'invalid query parameter %s: %s' },
  UNAUTHORIZED: { status: 401, message: 'missing or wrong bearer token' },
  NOT_FOUND: { status: 404, message: '%s not found' },
  ROUTE_NOT_FOUND: { status: 404, message: 'no route %s' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'request body too large' },
  INTERNAL: { status: 500, message: 'internal error' },
} as const

export type ErrorCode = keyof typeof ERRORS

export class ApiError extends Error {
  readonly code: ErrorCode
  readonly status: number
  constructor(code: ErrorCode, ...args: string[]) {
    const def = ERRORS[code]
    let i = 0
    super(def.message.replace(/%s/g, () => args[i++] ?? ''))
    this.code = code
    this.status = def.status
  }
  toJSON(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } }
  }
}
