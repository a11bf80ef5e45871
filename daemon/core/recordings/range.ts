/**
 * One HTTP byte range (RFC 9110 §14). `null`: serve the whole file (no header, another unit, a
 * malformed or multi-part range, which a server may ignore); `'unsatisfiable'`: answer 416.
 */
export type RangeResult = { start: number; end: number } | 'unsatisfiable' | null

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return null
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header)
  // several ranges would need multipart/byteranges; players ask for one, and 200 is a valid answer
  if (!m || (m[1] === '' && m[2] === '')) return null
  const first = m[1] === '' ? null : Number(m[1])
  const last = m[2] === '' ? null : Number(m[2])
  if (first === null) {
    // suffix: the last N bytes
    if (last === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - last!), end: size - 1 }
  }
  if (last !== null && last < first) return null
  if (first >= size) return 'unsatisfiable'
  return { start: first, end: last === null ? size - 1 : Math.min(last, size - 1) }
}
