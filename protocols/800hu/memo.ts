import { MAX_JSON_DEPTH, tooDeep } from '../json/depth.js'

/**
 * A box command's `memo` (seed 003 §2.1.10): the object `{"functionname": …, "paramvalue": …}`.
 * The 800hu cloud echoes `paramvalue` back in the call's pushes (§2.10.4), so a CRM can tag a dial.
 */

export const PARAMVALUE_MAX = 4096

/**
 * What the box receives: an object is kept as given (it should be the seed's shape); a string that is
 * a JSON object's text is that object; any other string becomes `{"functionname": "", "paramvalue": s}`.
 * Throws a RangeError naming the problem for anything else.
 */
export function boxMemo(memo: unknown): Record<string, unknown> | undefined {
  if (memo === undefined || memo === null || memo === '') return undefined
  if (typeof memo === 'string') {
    if (memo.trimStart().startsWith('{')) {
      try {
        const o = JSON.parse(memo) as unknown
        if (typeof o === 'object' && o !== null && !Array.isArray(o)) return checked(o as Record<string, unknown>)
      } catch {
        // not JSON: plain text
      }
    }
    return checked({ functionname: '', paramvalue: memo })
  }
  if (typeof memo === 'object' && !Array.isArray(memo)) return checked(memo as Record<string, unknown>)
  throw new RangeError('memo must be an object or a string')
}

function checked(o: Record<string, unknown>): Record<string, unknown> {
  if (tooDeep(o)) throw new RangeError(`memo nests deeper than ${MAX_JSON_DEPTH} levels`)
  return o
}

/** The `paramvalue` a push carries back: the memo's paramvalue as text; a memo without one: its JSON text; none: null. */
export function paramvalueOf(memo: unknown): string | null {
  if (memo === undefined || memo === null) return null
  if (typeof memo === 'string') return memo.slice(0, PARAMVALUE_MAX)
  if (typeof memo !== 'object') return null
  const pv = (memo as Record<string, unknown>).paramvalue
  const text = pv === undefined || pv === null ? JSON.stringify(memo) : typeof pv === 'string' ? pv : JSON.stringify(pv)
  return text.slice(0, PARAMVALUE_MAX)
}
