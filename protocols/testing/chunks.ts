/**
 * Chunking helpers for codec tests: TCP may split or merge frames anywhere, so every codec test
 * feeds the same bytes in many chunkings and expects the same result. No protocol knowledge here.
 */
import { isDeepStrictEqual } from 'node:util'

export interface Split {
  name: string
  chunks: Buffer[]
}

/**
 * Every interesting way to deliver `buf`: whole; byte by byte; and for every i in 1..len-1 two
 * chunks split at i. Chunks are fresh copies, so a decoder that scribbles on its input or keeps a
 * reference to it cannot affect the next split.
 */
export function* splits(buf: Buffer): Generator<Split> {
  yield { name: 'whole', chunks: [Buffer.from(buf)] }
  if (buf.length > 1) {
    const bytes: Buffer[] = []
    for (let i = 0; i < buf.length; i++) bytes.push(Buffer.from(buf.subarray(i, i + 1)))
    yield { name: 'byte by byte', chunks: bytes }
  }
  for (let i = 1; i < buf.length; i++) {
    yield { name: `split at ${i}`, chunks: [Buffer.from(buf.subarray(0, i)), Buffer.from(buf.subarray(i))] }
  }
}

/** Run `run` once per split of `buf` (see {@link splits}); the first result is always 'whole'. */
export function feedAll<T>(buf: Buffer, run: (chunks: Buffer[]) => T): { name: string; result: T }[] {
  const out: { name: string; result: T }[] = []
  for (const s of splits(buf)) out.push({ name: s.name, result: run(s.chunks) })
  return out
}

/**
 * The first run whose result differs (deep strict equality) from `expected`, or undefined.
 * One-line use: `t.same(firstMismatch(feedAll(buf, run), expected) ?? null, null)`; on failure the
 * diff shows which split broke and what it produced.
 */
export function firstMismatch<T>(runs: { name: string; result: T }[], expected: T): { name: string; result: T } | undefined {
  return runs.find((r) => !isDeepStrictEqual(r.result, expected))
}

/** Deterministic PRNG (mulberry32) so randomised tests reproduce from their seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Cut `buf` into random chunks (1..maxChunk bytes each) using `rand`. Chunks are subarrays. */
export function randomChunks(buf: Buffer, rand: () => number, maxChunk = 64): Buffer[] {
  const out: Buffer[] = []
  let i = 0
  while (i < buf.length) {
    const n = 1 + Math.floor(rand() * maxChunk)
    out.push(buf.subarray(i, i + n))
    i += n
  }
  return out
}
