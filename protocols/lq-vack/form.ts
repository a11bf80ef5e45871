/**
 * Form and query strings the way the LQ server (a Java servlet on Chinese Windows) reads them:
 * percent-encoded GBK bytes, not UTF-8. Used by the client (form bodies), the simulator (reading
 * them) and the callback receiver (custURL / popCRURL query strings).
 */
import { decodePairs, decodeText, encodePairs, encodeText, percentBytes } from '../text/percent.js'

export { decodeText, encodeText, percentBytes }

/** How text is turned into bytes before percent-encoding. `gbk` covers gb2312. */
export type FormCharset = 'gbk' | 'utf-8'

export type FormFields = Record<string, string | number | boolean | null | undefined>

/**
 * `k=v&k=v` with every value's bytes in `charset`, percent-encoded (space as `+`). Undefined and
 * null fields are left out; booleans and numbers are written as text.
 */
export function encodeForm(fields: FormFields, charset: FormCharset = 'gbk'): string {
  return encodePairs(Object.entries(fields), charset, 'form')
}

/**
 * Parse `k=v&k=v` (a query string without the `?`, or a form body read as latin1). As the servlet
 * API's getParameter does, the first of repeated keys wins. A segment without `=` is a key with an
 * empty value; empty segments are skipped.
 */
export function decodeForm(s: string, charset: FormCharset = 'gbk'): Record<string, string> {
  const out = new Map<string, string>()
  for (const [k, v] of decodePairs(s, charset)) if (!out.has(k)) out.set(k, v)
  // fromEntries defines own properties: a key `__proto__` is data, not a prototype
  return Object.fromEntries(out)
}
