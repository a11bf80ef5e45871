/**
 * Box MACs arrive in every notation (`00:0A:…`, `00-0a-…`, `000a…`); everything inside telbridge
 * uses the 12 lowercase hex digits, which are also the box's source id suffix (`800hu-000a…`).
 */

const SEPARATED = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){3,4}$/
const BARE = /^[0-9a-f]{12}$/

/**
 * 12 lowercase hex digits, or null when `raw` is not a MAC (mixed separators, wrong length, non-hex).
 * Five separated octets (the seed's own `satellite` example `00:00:00:00:01`) are taken as a MAC
 * with a leading 00 octet, so `00:00:00:00:01` and `00:00:00:00:00:01` are the same box.
 */
export function normaliseMac(raw: string): string | null {
  const s = raw.trim().toLowerCase()
  if (BARE.test(s)) return s
  if (SEPARATED.test(s)) return s.replace(/[:-]/g, '').padStart(12, '0')
  return null
}

/** `00:00:00:00:00:01` for display. */
export function formatMac(mac12: string): string {
  return mac12.replace(/(..)(?!$)/g, '$1:')
}

export const SOURCE_PREFIX = '800hu-'

export function boxSourceId(mac12: string): string {
  return SOURCE_PREFIX + mac12
}
