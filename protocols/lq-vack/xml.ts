/**
 * The LQ `/v/vack` answer envelope (seed 000 "服务应答数据包说明"): gb2312 XML with one `<result>`
 * root whose attributes carry `generated`, `vo_id`, `rcode`, `msg` and, on failure, `error`.
 * Bytes are decoded with iconv-lite in the declared encoding, then parsed by fast-xml-parser.
 *
 * Where the vendor is silent or its examples are not well-formed XML, we decided:
 * - Encoding: the XML declaration's `encoding`, else the Content-Type charset, else gb2312; gb2312 is
 *   decoded as GBK (its superset: servers labelled gb2312 send GBK-only characters such as 镕).
 * - The seed's examples are copied from a word processor and a browser: attribute values in curly
 *   quotes (`chCnt=”10”`), an attribute without a value (`ichCnt`), a `- ` before the root, the
 *   closing `</result>` missing. All are read; curly quotes are only rewritten inside tags.
 * - `_NA_` and empty text mean "no value" (null). An empty `error=""` (playSelected success) is no error.
 * - An answer without a `<result>` root (a login page, a proxy's error page) is NO_RESULT.
 */
import iconv from 'iconv-lite'
import { XMLParser } from 'fast-xml-parser'

export type VackXmlErrorCode =
  /** no bytes at all */
  | 'EMPTY'
  /** the parser rejected it */
  | 'BAD_XML'
  /** well-formed enough, but no `<result>` root (e.g. an HTML login page) */
  | 'NO_RESULT'

export class VackXmlError extends Error {
  override readonly name = 'VackXmlError'
  constructor(
    readonly code: VackXmlErrorCode,
    message: string,
    /** the start of the decoded text, for logs */
    readonly raw: string,
  ) {
    super(message)
  }
}

/** The `<result>` envelope of every vack answer. */
export interface VackDoc {
  /** `vo_id` attribute (query answers carry it; control answers often do not) */
  voId: string | null
  /** `generated`: the server's ms timestamp, unique per answer */
  generated: string | null
  /** `rcode` ("not used yet" says the vendor; usually "0" on success and failure alike) */
  rcode: string | null
  /** `msg`, e.g. 执行成功 */
  msg: string | null
  /** `error`: set (non-empty) only when the service failed */
  error: string | null
  /** the root element's own text, e.g. 执行成功 or 分通道无效 */
  text: string | null
  /** every root attribute as sent; an attribute without value is '' */
  attrs: Record<string, string>
  /** the root element as fast-xml-parser gives it (children by tag name; attributes under `@_`) */
  root: Record<string, unknown>
  /** the encoding the bytes were decoded with */
  encoding: string
}

/** Elements that are lists in some answer: always arrays, even with one item. */
export const LIST_TAGS = new Set(['chStatus', 'operStatus', 'queueStatus', 'CustCall', 'loc'])

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  allowBooleanAttributes: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  htmlEntities: true,
  // the answer is the vendor's, not an attacker's, but a DOCTYPE entity bomb must still not hurt
  processEntities: { enabled: true, maxTotalExpansions: 1000, maxExpandedLength: 1 << 20 },
  ignoreDeclaration: true,
  ignorePiTags: true,
  jPath: false,
  isArray: (name) => LIST_TAGS.has(name),
})

const DECL = /^\s*(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']/

/** The encoding to decode `body` with (see the module comment). */
export function answerEncoding(body: Buffer, contentType?: string | null): string {
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) return 'utf-8'
  const head = body.subarray(0, 200).toString('latin1')
  const declared = DECL.exec(head)?.[1]
  const fromHeader = contentType ? /charset\s*=\s*"?([A-Za-z0-9._:-]{1,40})/i.exec(contentType)?.[1] : undefined
  for (const e of [declared, fromHeader]) {
    if (!e) continue
    const n = e.toLowerCase()
    if (n === 'gb2312' || n === 'gb_2312-80' || n === 'x-gbk' || n === 'cp936') return 'gbk'
    if (iconv.encodingExists(n)) return n
  }
  return 'gbk'
}

// `name=”value”` / `name=“value”` inside a tag → `name="value"`
const CURLY_ATTR = /(<[A-Za-z_][^<>]*?)([\s][A-Za-z_][\w:.-]*\s*=\s*)[“”]([^“”"<>]*)[“”]/g

function fixCurlyQuotes(text: string): string {
  if (!text.includes('”') && !text.includes('“')) return text
  let prev: string
  // one attribute per pass of the regex per tag; loop until none is left
  do {
    prev = text
    text = text.replace(CURLY_ATTR, (_m, tag: string, name: string, value: string) => `${tag}${name}"${value}"`)
  } while (text !== prev)
  return text
}

/** `_NA_`, empty and whitespace-only → null; other values trimmed. */
export function na(v: unknown): string | null {
  if (v === undefined || v === null) return null
  if (typeof v === 'object') {
    // an element with attributes: its text is under #text
    const t = (v as Record<string, unknown>)['#text']
    return t === undefined ? null : na(t)
  }
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return null // the parser gives no other kind
  const s = String(v).trim()
  return s === '' || s === '_NA_' ? null : s
}

/** Decode and parse one answer. Throws {@link VackXmlError}; never anything else. */
export function decodeVackXml(body: Buffer, contentType?: string | null): VackDoc {
  const { text, encoding } = decodeAnswerText(body, contentType)
  return parseVackText(text, encoding)
}

/** The answer's bytes as text, in the encoding {@link answerEncoding} picks. */
export function decodeAnswerText(body: Buffer, contentType?: string | null): { text: string; encoding: string } {
  if (body.length === 0) throw new VackXmlError('EMPTY', 'empty answer', '')
  const encoding = answerEncoding(body, contentType)
  try {
    return { text: iconv.decode(body, encoding), encoding }
  } catch (err) {
    throw new VackXmlError('BAD_XML', `cannot decode the answer as ${encoding}: ${(err as Error).message}`, '')
  }
}

/** Parse an answer already decoded to text. */
export function parseVackText(text: string, encoding: string): VackDoc {
  const raw = text.slice(0, 200)
  if (text.trim() === '') throw new VackXmlError('EMPTY', 'answer is only whitespace', raw)
  let parsed: Record<string, unknown>
  try {
    parsed = parser.parse(fixCurlyQuotes(text)) as Record<string, unknown>
  } catch (err) {
    throw new VackXmlError('BAD_XML', `answer is not XML: ${(err as Error).message}`, raw)
  }
  if (!Object.hasOwn(parsed, 'result')) {
    const got = Object.keys(parsed).filter((k) => !k.startsWith('?'))
    throw new VackXmlError('NO_RESULT', `answer has no <result> element${got.length ? ` (root: <${got[0]}>)` : ''}`, raw)
  }
  let root = parsed['result']
  // several roots: fast-xml-parser gives an array; the first is the answer
  if (Array.isArray(root)) root = root[0]
  const r: Record<string, unknown> = root !== null && typeof root === 'object' ? (root as Record<string, unknown>) : { '#text': root ?? '' }
  const attrs: Record<string, string> = {}
  for (const [k, v] of Object.entries(r)) {
    if (k.startsWith('@_')) attrs[k.slice(2)] = v === true ? '' : String(v)
  }
  const attr = (name: string): string | null => na(attrs[name])
  return {
    voId: attr('vo_id'),
    generated: attr('generated'),
    rcode: attr('rcode'),
    msg: attr('msg'),
    error: attr('error'),
    text: na(r['#text']),
    attrs,
    root: r,
    encoding,
  }
}

/** Depth-first: the first array or value found under `tag` anywhere below `node` (the seed nests `<result><result>`). */
export function findAll(node: unknown, tag: string): unknown[] {
  if (node === null || typeof node !== 'object') return []
  if (Array.isArray(node)) {
    for (const x of node) {
      const r = findAll(x, tag)
      if (r.length) return r
    }
    return []
  }
  const o = node as Record<string, unknown>
  if (Object.hasOwn(o, tag)) {
    const v = o[tag]
    return Array.isArray(v) ? v : [v]
  }
  for (const [k, v] of Object.entries(o)) {
    if (k.startsWith('@_') || k === '#text') continue
    const r = findAll(v, tag)
    if (r.length) return r
  }
  return []
}

// ---- encoders: answers as the vendor's server writes them (the simulator, the bench, round-trip tests) ----

/** Text for XML content and attribute values. */
export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
}

/** A value as the server writes it: no value (null, '') is `_NA_`. */
export function naText(v: string | number | boolean | null | undefined): string {
  return v === null || v === undefined || v === '' ? '_NA_' : xmlEscape(String(v))
}

/** An answer document in gb2312 bytes: the declaration, then `<result attrs>inner</result>` (inner is XML as given). */
export function encodeVackXml(attrs: Record<string, string | number>, inner: string): Buffer {
  const a = Object.entries(attrs)
    .map(([k, v]) => ` ${k}="${xmlEscape(String(v))}"`)
    .join('')
  return iconv.encode(`<?xml version="1.0" encoding="gb2312" ?>\n<result${a}>${inner}</result>\n`, 'gbk')
}

/** A control service's answer: `msg` on success (执行成功), `error` on a refusal; `text` is the root's own text. */
export function encodeVackResult(generated: number | string, r: { msg?: string; error?: string; text: string }): Buffer {
  const attrs: Record<string, string | number> = { generated, rcode: 0 }
  if (r.msg !== undefined) attrs.msg = r.msg
  if (r.error !== undefined) attrs.error = r.error
  return encodeVackXml(attrs, xmlEscape(r.text))
}
