/**
 * The box endpoint's answers, exactly in the vendor's shapes (seed 003 §2.1.10): `time` is the
 * server's clock in ms as a string, `status` a number, `message` the reason on failure. Encoded by
 * the server, decoded by a box (the simulator).
 */

/** `status` values. The 3xxx ones are the vendor's; the negative ones reuse the vendor's API code table (§1.2), as the document defines no others for this endpoint. */
export const BOX_STATUS = {
  OK: 0,
  /** 设备未注册或未分配用户 */
  NOT_REGISTERED: 3001,
  /** MAC 参数不能少，参数名 satellite */
  NO_SATELLITE: 3002,
  /** 没有可处理的消息 */
  NO_MESSAGE: 3003,
  /** 方法内部错误: a malformed field (status JSON, callid) */
  BAD_FIELD: -3,
  /** 数据不存在: a required field or the file is missing */
  MISSING: -11,
  /** 超过最大值错误: the file is larger than recordings.maxBytes */
  TOO_LARGE: -12,
  /**
   * 文件保存失败: not stored (disk full, unwritable, MD5 mismatch), and also not stored *for now*:
   * the upload timed out (HTTP 408) or its address already has boxes.maxUploadsPerIp uploads in
   * progress (HTTP 503 with Retry-After). A box retries a -13, which is what each of these needs.
   */
  SAVE_FAILED: -13,
} as const

/** The vendor's own texts for its codes, so an integrator sees what the vendor server would say. */
export const VENDOR_TEXT: Record<number, string> = {
  3001: '设备未注册或未分配用户',
  3002: 'MAC 参数不能少，参数名 satellite',
  3003: '没有可处理的消息',
}

export interface BoxAnswer {
  /** HTTP status; the vendor's codes go out with 200 as the vendor server sends them */
  http: number
  /** the vendor's code (0 is success) and whatever the answer carries */
  body: { status: number } & Record<string, unknown>
}

export function ok(extra?: { callid?: string }, now = Date.now()): BoxAnswer {
  const body: BoxAnswer['body'] = { time: String(now), status: 0 }
  if (extra?.callid !== undefined) body.callid = extra.callid
  return { http: 200, body }
}

/**
 * A failure in the vendor shape. `error` (telbridge's stable code, as on the local API) is added
 * for our own failures so logs and people can tell them apart; a box only reads `status`.
 */
export function fail(status: number, message?: string, opts: { http?: number; error?: string; callid?: string; now?: number } = {}): BoxAnswer {
  const body: BoxAnswer['body'] = { time: String(opts.now ?? Date.now()), status, message: message ?? VENDOR_TEXT[status] ?? 'error' }
  if (opts.callid !== undefined) body.callid = opts.callid
  if (opts.error) body.error = opts.error
  return { http: opts.http ?? 200, body }
}

/** getMessageList with commands: `{"data":[…],"status":0}` (no `time` in the vendor's example). */
export function messages(data: readonly Record<string, unknown>[]): BoxAnswer {
  return { http: 200, body: { data, status: 0 } }
}

/** An answer as a box reads it; every field null when absent or of the wrong type. */
export interface DecodedAnswer {
  /** `status` as a number (a numeric string counts); null when missing or not a number */
  status: number | null
  /** `time`: the server's clock in ms */
  time: number | null
  message: string | null
  callid: string | null
  error: string | null
  /** getMessageList's `data` items */
  data: unknown[] | null
}

/** A parsed answer body (JSON) → its fields. Never throws: anything that is not an object has no fields. */
export function decodeAnswer(body: unknown): DecodedAnswer {
  const o = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {}
  const num = (v: unknown) => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN
    return Number.isFinite(n) ? n : null
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : null)
  return { status: num(o.status), time: num(o.time), message: str(o.message), callid: str(o.callid), error: str(o.error), data: Array.isArray(o.data) ? o.data : null }
}
