/**
 * Parsed JSON from the network nests as deep as the sender likes: `JSON.parse` copes with 100k
 * levels, but anything that walks the value recursively afterwards (`JSON.stringify`,
 * `structuredClone`, a recursive checker) throws a RangeError. So every JSON value telbridge takes
 * from a client is checked here first, with an explicit stack, and refused when deeper than this.
 */
export const MAX_JSON_DEPTH = 64

/** True when `v` has objects or arrays nested more than `limit` levels (`{}` is 1). Never recurses. */
export function tooDeep(v: unknown, limit = MAX_JSON_DEPTH): boolean {
  if (typeof v !== 'object' || v === null) return false
  const stack: [object, number][] = [[v, 1]]
  while (stack.length) {
    const [o, d] = stack.pop()!
    if (d > limit) return true
    for (const x of Object.values(o) as unknown[]) if (typeof x === 'object' && x !== null) stack.push([x, d + 1])
  }
  return false
}
