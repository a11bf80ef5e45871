/**
 * Percent-encoding in any charset. The vendors' servers (a Java servlet, Tomcat, PHP on Chinese
 * Windows) read query strings and form bodies as percent-encoded bytes of their own charset, often
 * GBK, where URLSearchParams only knows UTF-8. One codec, the charset a parameter.
 */
import iconv from 'iconv-lite'

/** An iconv-lite encoding name: 'utf-8', 'gbk' (covers gb2312), 'gb18030', … */
export type Charset = string

/**
 * Which bytes stay as they are. `form`: application/x-www-form-urlencoded (WHATWG: letters, digits,
 * `*-._`; a space is `+`), what URLSearchParams and HTML forms write. `uri`: RFC 3986 unreserved
 * (letters, digits, `-._~`; a space is `%20`), for servers that do not read `+` as a space.
 */
export type PercentStyle = 'form' | 'uri'

const HEX = '0123456789ABCDEF'
const KEEP: Record<PercentStyle, Uint8Array> = { form: new Uint8Array(128), uri: new Uint8Array(128) }
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789') KEEP.form[c.charCodeAt(0)] = KEEP.uri[c.charCodeAt(0)] = 1
for (const c of '*-._') KEEP.form[c.charCodeAt(0)] = 1
for (const c of '-._~') KEEP.uri[c.charCodeAt(0)] = 1

const isUtf8 = (cs: Charset) => /^utf-?8$/i.test(cs)

/** Text → bytes in `charset` (characters it lacks become `?`, iconv-lite's rule). */
export function encodeText(s: string, charset: Charset): Buffer {
  return isUtf8(charset) ? Buffer.from(s, 'utf8') : iconv.encode(s, charset)
}

/** Bytes in `charset` → text (invalid bytes become U+FFFD). */
export function decodeText(buf: Uint8Array, charset: Charset): string {
  return isUtf8(charset) ? Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('utf8') : iconv.decode(Buffer.from(buf), charset)
}

/** Bytes → percent-encoded text in `style`. */
export function percentEncodeBytes(buf: Uint8Array, style: PercentStyle = 'form'): string {
  const keep = KEEP[style]
  const plus = style === 'form'
  let out = ''
  for (const b of buf) {
    if (b < 128 && keep[b]) out += String.fromCharCode(b)
    else if (b === 0x20 && plus) out += '+'
    else out += '%' + HEX[b >> 4]! + HEX[b & 15]!
  }
  return out
}

/** Text → its bytes in `charset`, percent-encoded in `style`. */
export function percentEncode(s: string, charset: Charset, style: PercentStyle = 'form'): string {
  // ASCII (nearly every value) is the same bytes in every charset we meet
  let ascii = true
  for (let i = 0; i < s.length && ascii; i++) if (s.charCodeAt(i) > 0x7f) ascii = false
  return percentEncodeBytes(ascii ? Buffer.from(s, 'latin1') : encodeText(s, charset), style)
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  const l = c | 0x20
  if (l >= 97 && l <= 102) return l - 87
  return -1
}

/**
 * Percent-decode to bytes; `+` is a space, as form decoding has it. Characters below U+0100 count
 * as one byte each (Node gives a raw request line's bytes that way, and a body read as latin1 too);
 * anything above is taken as UTF-8. A `%` not followed by two hex digits is kept as is.
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

/** A percent-encoded component → text in `charset`. */
export function percentDecode(s: string, charset: Charset): string {
  return decodeText(percentBytes(s), charset)
}

/** `k=v&k=v` from pairs, both sides encoded; pairs with an undefined value are left out. */
export function encodePairs(pairs: Iterable<readonly [string, string | number | boolean | null | undefined]>, charset: Charset, style: PercentStyle = 'form'): string {
  const parts: string[] = []
  for (const [k, v] of pairs) if (v !== undefined && v !== null) parts.push(percentEncode(k, charset, style) + '=' + percentEncode(String(v), charset, style))
  return parts.join('&')
}

/**
 * `k=v&k=v` (a query without the `?`, or a form body read as latin1) → pairs in order, repeats
 * kept. A segment without `=` is a key with an empty value; empty segments are skipped.
 */
export function decodePairs(s: string, charset: Charset): [string, string][] {
  const out: [string, string][] = []
  for (const seg of s.split('&')) {
    if (seg === '') continue
    const eq = seg.indexOf('=')
    out.push([percentDecode(eq < 0 ? seg : seg.slice(0, eq), charset), eq < 0 ? '' : percentDecode(seg.slice(eq + 1), charset)])
  }
  return out
}
