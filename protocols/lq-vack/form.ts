/**
 * Form and query strings the way the LQ server (a Java servlet on Chinese Windows) reads them:
 * percent-encoded GBK bytes, not UTF-8. Used by the client (form bodies), the simulator (reading
 * them) and the callback receiver (custURL / popCRURL query strings).
 */
import iconv from 'iconv-lite'

/** How text is turned into bytes before percent-encoding. `gbk` covers gb2312. */
export type FormCharset = 'gbk' | 'utf-8'

export type FormFields = Record<string, string | number | boolean | null | undefined>

// application/x-www-form-urlencoded keeps these bytes as they are (WHATWG URL standard)
const KEEP = new Uint8Array(128)
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-._') KEEP[c.charCodeAt(0)] = 1
const HEX = '0123456789ABCDEF'

function encodeBytes(buf: Uint8Array): string {
  let out = ''
  for (const b of buf) {
    if (b < 128 && KEEP[b]) out += String.fromCharCode(b)
    else if (b === 0x20) out += '+'
    else out += '%' + HEX[b >> 4]! + HEX[b & 15]!
  }
  return out
}

export function encodeText(s: string, charset: FormCharset): Buffer {
  return charset === 'utf-8' ? Buffer.from(s, 'utf8') : iconv.encode(s, 'gbk')
}

export function decodeText(buf: Uint8Array, charset: FormCharset): string {
  return charset === 'utf-8' ? Buffer.from(buf).toString('utf8') : iconv.decode(Buffer.from(buf), 'gbk')
}

/**
 * `k=v&k=v` with every value's bytes in `charset`, percent-encoded (space as `+`). Undefined and
 * null fields are left out; booleans and numbers are written as text.
 */
export function encodeForm(fields: FormFields, charset: FormCharset = 'gbk'): string {
  const parts: string[] = []
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || v === null) continue
    parts.push(encodeBytes(encodeText(k, charset)) + '=' + encodeBytes(encodeText(String(v), charset)))
  }
  return parts.join('&')
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  const l = c | 0x20
  if (l >= 97 && l <= 102) return l - 87
  return -1
}

/**
 * Percent-decode to bytes. Characters below U+0100 count as one byte each (Node gives a raw request
 * line's bytes that way, and a body read as latin1 too); anything above is taken as UTF-8. A `%` not
 * followed by two hex digits is kept as is.
 */
export function percentBytes(s: string): Buffer {
  const out: number[] = []
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0x25 /* % */ && i + 2 < s.length) {
      const h = hexValue(s.charCodeAt(i + 1))
      const l = hexValue(s.charCodeAt(i + 2))
      if (h >= 0 && l >= 0) {
        out.push((h << 4) | l)
        i += 2
        continue
      }
    }
    if (c === 0x2b /* + */) out.push(0x20)
    else if (c < 0x100) out.push(c)
    else for (const b of Buffer.from(String.fromCodePoint(s.codePointAt(i)!), 'utf8')) out.push(b)
    if (c >= 0xd800 && c <= 0xdbff) i++ // the low surrogate went with its pair
  }
  return Buffer.from(out)
}

/**
 * Parse `k=v&k=v` (a query string without the `?`, or a form body read as latin1). As the servlet
 * API's getParameter does, the first of repeated keys wins. A segment without `=` is a key with an
 * empty value; empty segments are skipped.
 */
export function decodeForm(s: string, charset: FormCharset = 'gbk'): Record<string, string> {
  const out = new Map<string, string>()
  for (const seg of s.split('&')) {
    if (seg === '') continue
    const eq = seg.indexOf('=')
    const k = decodeText(percentBytes(eq < 0 ? seg : seg.slice(0, eq)), charset)
    if (out.has(k)) continue
    out.set(k, eq < 0 ? '' : decodeText(percentBytes(seg.slice(eq + 1)), charset))
  }
  // fromEntries defines own properties: a key `__proto__` is data, not a prototype
  return Object.fromEntries(out)
}
