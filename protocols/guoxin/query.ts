import { decodePairs, encodePairs, percentEncode as encodeComponent } from '../text/percent.js'

/**
 * Query strings in the server's character set. Guoxin runs on Tomcat, whose URI charset is a server
 * setting (UTF-8 since Tomcat 8, ISO-8859-1 or GBK on older installs), and Chinese text (IVR_TTS_CALL
 * `tts*` values) must reach it percent-encoded in that charset. URLSearchParams only knows UTF-8.
 */
export type GuoxinEncoding = 'utf-8' | 'gbk'

/** Unreserved characters (RFC 3986) go as they are, a space as %20; everything else is %XX of the charset's bytes. */
export function percentEncode(s: string, encoding: GuoxinEncoding): string {
  return encodeComponent(s, encoding, 'uri')
}

/** `k=v&k=v` in order, leaving out undefined values. */
export function encodeQuery(params: ReadonlyArray<readonly [string, string | number | undefined]>, encoding: GuoxinEncoding): string {
  return encodePairs(params, encoding, 'uri')
}

/** A raw query string (without `?`) → name → values, decoded from `encoding` (`+` is a space; a broken `%` escape is kept literally). */
export function decodeQuery(raw: string, encoding: GuoxinEncoding): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const [k, v] of decodePairs(raw, encoding)) {
    const list = out.get(k)
    if (list) list.push(v)
    else out.set(k, [v])
  }
  return out
}
