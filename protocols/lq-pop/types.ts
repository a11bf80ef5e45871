/** One screen pop from LQ-Connect, whatever format (popVer) the server sends. */

/** Pop string formats. Detected from the fields present, never from the `H=` tag alone. */
export type PopFormat = 't1v1' | 't1v2' | 't1v3' | 't1v4' | 't1v5' | 't2'

/** `ty` values of t1v4/t1v5, named. */
export type PopKind =
  | 'inbound' // 1
  | 'manual-outbound' // 2
  | 'inbound-three-way' // 3
  | 'auto-outbound' // 4
  | 'inbound-transfer' // 5
  | 'outbound-transfer' // 6
  | 'outbound-three-way' // 7
  | 'test' // 8
  | 'undefined' // 9 ("待定")

/** E-IVR result carried by an `H=t2` pop (seed 000, last section). */
export interface IvrResult {
  /** `v`: the vo_id the E-IVR flow ran */
  voId: string | null
  /** `r`: 0 ok, 1 fail, -1 system error, -100 timeout, other values user-defined */
  result: number | null
  /** `pa`: the parameter given to push2flow */
  param: string | null
}

export interface Pop {
  format: PopFormat
  /** the `H=` value exactly as sent (null for t1v1); may disagree with `format` */
  tag: string | null
  /** `ch`: external-line channel */
  channel: number | null
  /** `ph` */
  phone: string | null
  /** `id`; t1v1: startTime followed by ch; t1v4/t1v5 (no id): `sn`; else null */
  callId: string | null
  /** ISO 8601 with the server time zone's offset, e.g. 2008-07-11T17:59:31+08:00 */
  time: string | null
  /** `op` */
  agent: string | null
  /** `sn` */
  serial: string | null
  /** `ty` as a number, and named */
  kindCode: number | null
  kind: PopKind | null
  /** inbound for ty 1,3,5 and formats without ty; outbound for 2,4,6,7; null for 8,9 and t2 */
  direction: 'inbound' | 'outbound' | null
  /** `so` when ty is 5 or 6 (else null, the vendor sends 0) */
  originAgent: string | null
  /** `mb` */
  member: string | null
  /** `da` parsed: `k:v|k:v` → {k: v}; `0` (the default) → {}; null when absent. Lossy (repeats, keyless values): see dataPairs */
  data: Record<string, string> | null
  /** `da` exactly as sent (untrimmed), null when absent */
  daRaw: string | null
  /** `da` as ordered `[key, value]` pairs split at each entry's first `:`, repeats kept; a value without a key → `['', value]`; `0` → []; null when absent */
  dataPairs: [string, string][] | null
  /** `dm` / t1v1 dtmf split on `;`; `NA` and the default `0` → [] */
  dtmf: string[]
  /** present only for t2 */
  ivr?: IvrResult
  /** keys the parser does not know, kept as sent */
  extra: Record<string, string>
  /** the decoded text as received */
  raw: string
}

export interface ParseOptions {
  /** IANA time zone of the LQ server, e.g. "Asia/Shanghai"; default: the host's */
  timeZone?: string
}
