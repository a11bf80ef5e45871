import iconv from 'iconv-lite'

/**
 * Query strings in the server's character set. Guoxin runs on Tomcat, whose URI charset is a server
 * setting (UTF-8 since Tomcat 8, ISO-8859-1 or GBK on older installs), and Chinese text (IVR_TTS_CALL
 * `tts*` values) must reach it percent-encoded in that charset. URLSearchParams only knows UTF-8.
 */
export type GuoxinEncoding = 'utf-8' | 'gbk'

// unreserved characters (RFC 3986) go as they are; everything else is %XX of the charset's bytes
const UNRESERVED = new Uint8Array(128)
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') UNRESERVED[c.charCodeAt(0)] = 1
const HEX = '0123456789ABCDEF'

export function percentEncode(s: string, encoding: GuoxinEncoding): string {
  // ASCII-only values (nearly all of them) skip the charset encoder
  let ascii = true
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) ascii = false
  const bytes = ascii ? Buffer.from(s, 'latin1') : iconv.encode(s, encoding)
  let out = ''
  for (const b of bytes) out += b < 128 && UNRESERVED[b] ? String.fromCharCode(b) : '%' + HEX[b >> 4] + HEX[b & 15]
  return out
}

/** `k=v&k=v` in order, leaving out undefined values. */
export function encodeQuery(params: ReadonlyArray<readonly [string, string | number | undefined]>, encoding: GuoxinEncoding): string {
  const parts: string[] = []
  for (const [k, v] of params) if (v !== undefined) parts.push(percentEncode(k, encoding) + '=' + percentEncode(String(v), encoding))
  return parts.join('&')
}

/** Bytes of a percent-encoded component (`+` is a space, as form decoding has it); a broken `%` escape is kept literally. */
function percentBytes(s: string): Buffer {
  const out: number[] = []
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0x25 && i + 2 < s.length && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16))
      i += 2
    } else if (c === 0x2b) out.push(0x20)
    else if (c < 0x80) out.push(c)
    else for (const b of Buffer.from(s[i]!, 'utf8')) out.push(b)
  }
  return Buffer.from(out)
}

/** A raw query string (without `?`) → name → values, decoded from `encoding`. */
export function decodeQuery(raw: string, encoding: GuoxinEncoding): Map<string, string[]> {
  const out = new Map<string, string[]>()
  if (raw === '') return out
  for (const part of raw.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const k = iconv.decode(percentBytes(eq < 0 ? part : part.slice(0, eq)), encoding)
    const v = eq < 0 ? '' : iconv.decode(percentBytes(part.slice(eq + 1)), encoding)
    const list = out.get(k)
    if (list) list.push(v)
    else out.set(k, [v])
  }
  return out
}
