/**
 * 100,000 seeded random inputs against LqConnectDecoder, each decoded in a random chunking, and
 * 1 in 4 also whole to compare (through the generic path for a custom plausibility check, so the
 * incremental default scanner is checked against it). A failure prints the seed and case number; rerun with
 * LQ_FUZZ_SEED=<seed> to reproduce.
 *
 * Inputs (90%) valid streams with one damaged spot: garbage inserted, bytes overwritten, a frame
 * cut short, a length byte changed, handshake fragments, zero bytes; (10%) pure random bytes, or
 * random bytes from an alphabet that keeps hitting the decoder's decisions ('H', '=', digits, ',',
 * TRY_REQ letters, 0x00, control bytes).
 *
 * What must hold for every input:
 *   - write never throws; every byte is accounted for (frame, skipped, or buffered) with exact
 *     offsets; `buffered` ≤ 255 after every write (an incomplete pop: 1 length byte + ≤ 254 payload
 *     bytes; an incomplete handshake ≤ 6); what is left buffered is something the decoder must wait on
 *   - the result does not depend on the chunking
 * and for damaged valid streams:
 *   - every frame before the damage comes out, first and unchanged
 *   - unless the decoder emitted a frame straddling the end of the damage (a false frame that
 *     swallowed good bytes: plausibility-based resync cannot rule this out) or is still waiting on a
 *     candidate that began inside it, every frame after the damage comes out, exactly, and nothing else
 *   - for damage that cannot look like the start of a pop (no 'H', no digits), followed by a frame
 *     whose length byte is neither an ASCII digit nor a letter of TRY_REQ, neither exception happens
 */
import t from 'tap'
import iconv from 'iconv-lite'
import { LqConnectDecoder, MAX_BUFFERED, plausiblePop, type FrameErrorCode, type LqConnectDecoderOptions } from '../protocols/lq-connect/index.js'
import { prng, randomChunks } from '../protocols/testing/chunks.js'
import { lq } from '../protocols/testing/lq.js'

const SEED = Number(process.env.LQ_FUZZ_SEED ?? 0x5eed1)
const CASES = 100_000
const TOKEN = lq.tryReq()

const rand = prng(SEED)
const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1)) // inclusive
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
const digits = (n: number): string => Array.from({ length: n }, () => int(0, 9)).join('')

// ---- a pool of valid frames (encoding GBK per case would dominate the run time) ---------------
const CHINESE = ['城市', '南京', '省', '江苏', '客户', '张三', '备注', '订单号', '回访', '北京']
function popText(): string {
  if (rand() < 0.3) return `${int(1, 64)},${digits(int(8, 14))},${int(1000, 9999)},${digits(13)},${rand() < 0.5 ? 'NA' : digits(int(1, 6))}`
  const fields = [`H=t1v${int(1, 5)}`, `ch=${int(1, 64)}`, `ph=${digits(int(7, 12))}`, `tm=${digits(12)}`]
  if (rand() < 0.5) fields.push(`id=${digits(14)}`)
  if (rand() < 0.5) fields.push(`op=${int(100, 999)}`, `sn=${int(1, 99999)}`, `ty=${int(1, 9)}`)
  if (rand() < 0.6) fields.push(`da=${Array.from({ length: int(1, 6) }, () => `${pick(CHINESE)}:${pick(CHINESE)}`).join('|')}`)
  let text = fields.join(',') + `,dm=${rand() < 0.5 ? '0' : digits(int(1, 8))};`
  while (iconv.encode(text, 'gbk').length > 255) text = text.slice(0, -1)
  return text
}
const POOL: Buffer[] = Array.from({ length: 3000 }, () => (rand() < 0.1 ? TOKEN : lq.pop(popText())))

// ---- decoding with a lean audit ---------------------------------------------------------------
interface Run {
  offset: number
  /** frames as [start, end) in stream offsets */
  frames: [number, number][]
  /** frames and merged error runs, as comparable strings */
  sig: string[]
  buffered: number
  maxBuffered: number
  problem: string | null
}

/** plausiblePop behind a function: the decoder's generic path, not its incremental scanner */
const generic = (p: Buffer, complete: boolean): boolean => plausiblePop(p, complete)

function decode(input: Buffer, chunks: Buffer[], opts: LqConnectDecoderOptions = {}): Run {
  const d = new LqConnectDecoder(opts)
  const frames: [number, number][] = []
  const sig: string[] = []
  let pos = 0
  let written = 0
  let maxBuffered = 0
  let problem: string | null = null
  let lastErr: { code: FrameErrorCode; start: number; end: number } | null = null
  const fail = (msg: string): void => {
    problem ??= msg
  }
  for (const chunk of chunks) {
    written += chunk.length
    d.write(
      chunk,
      (f) => {
        const end = d.offset
        const body = f.type === 'handshake' ? null : f.trailer ? Buffer.concat([f.payload, f.trailer]) : f.payload
        const start = body === null ? end - 7 : end - 1 - body.length
        if (start !== pos) fail(`frame at ${start}, expected ${pos}`)
        if (body === null) {
          if (input.compare(TOKEN, 0, 7, start, end) !== 0) fail(`handshake at ${start} is not TRY_REQ`)
        } else if (input[start] !== body.length || input.compare(body, 0, body.length, start + 1, end) !== 0) fail(`pop at ${start} differs from the input`)
        frames.push([start, end])
        sig.push(`F${start}-${end}`)
        pos = end
        lastErr = null
      },
      (e) => {
        if (e.offset !== pos) fail(`error at ${e.offset}, expected ${pos}`)
        if (e.bytes.length === 0 || input.compare(e.bytes, 0, e.bytes.length, e.offset, e.offset + e.bytes.length) !== 0) fail(`error bytes at ${e.offset} differ from the input`)
        const end = e.offset + e.bytes.length
        // a run split across writes is the same run: merge it so chunkings compare equal
        if (lastErr && lastErr.code === e.code && lastErr.end === e.offset) {
          lastErr.end = end
          sig[sig.length - 1] = `E${e.code}${lastErr.start}+${end}`
        } else {
          lastErr = { code: e.code, start: e.offset, end }
          sig.push(`E${e.code}${e.offset}+${end}`)
        }
        pos = end
      },
    )
    if (d.buffered > maxBuffered) maxBuffered = d.buffered
    if (d.buffered > MAX_BUFFERED) fail(`buffered ${d.buffered}`)
    if (d.offset !== pos || d.offset + d.buffered !== written) fail(`offset ${d.offset} buffered ${d.buffered}, accounted ${pos} of ${written}`)
  }
  // leftover: a prefix of TRY_REQ, or a candidate pop still plausible and incomplete
  const rest = input.subarray(d.offset)
  if (rest.length > 0) {
    const n = rest[0]!
    const tokenPrefix = rest.length < 7 && TOKEN.subarray(0, rest.length).equals(rest)
    const pending = n > 0 && rest.length <= n && (rest.length === 1 || plausiblePop(rest.subarray(1), false))
    if (!tokenPrefix && !pending) fail(`waits on ${rest.length} decidable bytes`)
  }
  return { offset: d.offset, frames, sig, buffered: d.buffered, maxBuffered, problem }
}

/**
 * Random cut points (1..8 of them), byte by byte 1 time in 64: every split point is already covered
 * exhaustively by the fixture tests, and under tap a trickle of garbage costs one (slow) FrameError per write.
 */
function chunking(buf: Buffer): Buffer[] {
  if (rand() < 1 / 64) return randomChunks(buf, rand, 1)
  const cuts = Array.from({ length: int(1, 8) }, () => int(0, buf.length)).sort((a, b) => a - b)
  const out: Buffer[] = []
  let at = 0
  for (const c of [...cuts, buf.length]) {
    if (c > at) out.push(buf.subarray(at, c))
    at = c
  }
  return out
}

// ---- damaged valid streams --------------------------------------------------------------------
type Kind = 'garbage' | 'clean-garbage' | 'overwrite' | 'cut-frame' | 'length-byte' | 'handshake-fragment' | 'zeros'
const KINDS: Kind[] = ['garbage', 'clean-garbage', 'overwrite', 'cut-frame', 'length-byte', 'handshake-fragment', 'zeros']
/** damage that no candidate frame can read as the start of a pop */
const STRICT = new Set<Kind>(['clean-garbage', 'handshake-fragment', 'zeros'])

interface Damaged {
  kind: Kind
  input: Buffer
  prefix: [number, number][]
  suffix: [number, number][]
  /** end of the damage = start of the intact suffix, in the damaged stream */
  dEnd: number
}

function frames(n: number): Buffer[] {
  return Array.from({ length: n }, () => pick(POOL))
}
function randomBytes(n: number, ok: (b: number) => boolean = () => true): Buffer {
  const out = Buffer.allocUnsafe(n)
  for (let i = 0; i < n;) {
    const b = int(0, 255)
    if (ok(b)) out[i++] = b
  }
  return out
}
const notPopStart = (b: number): boolean => b !== 0x48 && (b < 0x30 || b > 0x39)
/**
 * The first byte after the damage cannot join it: not a digit (a digit length byte followed by a
 * t1v1 text reads as digits + ','), and not a TRY_REQ letter ("TRY_RE" + a pop of length 'Q' (81)
 * is a handshake).
 */
const quietBoundary = (b: number): boolean => (b < 0x30 || b > 0x39) && !TOKEN.includes(b)

function damaged(): Damaged {
  const kind = pick(KINDS)
  const before = frames(int(0, 3))
  let damage: Buffer
  switch (kind) {
    case 'garbage':
      damage = randomBytes(int(1, 40))
      break
    case 'clean-garbage':
      damage = randomBytes(int(1, 40), notPopStart)
      break
    case 'handshake-fragment':
      damage = Buffer.concat(Array.from({ length: int(1, 3) }, () => pick([TOKEN.subarray(0, int(1, 6)), lq.tryRep()])))
      break
    case 'zeros':
      damage = Buffer.alloc(int(1, 5))
      break
    default: {
      // damage one frame in place
      const f = Buffer.from(pick(POOL))
      if (kind === 'overwrite') {
        for (let k = int(1, 4); k > 0; k--) f[int(0, f.length - 1)] = int(0, 255)
        damage = f
      } else if (kind === 'cut-frame') damage = f.subarray(0, int(1, f.length - 1))
      else {
        f[0] = int(0, 255)
        damage = f
      }
    }
  }
  // 1..3 intact frames after the damage; a candidate that started inside the damage may still be
  // waiting at the end ("held"), which the checks below tell apart from a swallow
  const after = frames(int(1, 3))
  const spans = (list: Buffer[], at: number): [number, number][] =>
    list.map((f) => {
      const s: [number, number] = [at, at + f.length]
      at += f.length
      return s
    })
  const beforeLen = before.reduce((n, f) => n + f.length, 0)
  const dEnd = beforeLen + damage.length
  return { kind, input: Buffer.concat([...before, damage, ...after]), prefix: spans(before, 0), suffix: spans(after, dEnd), dEnd }
}

// ---- random byte soup -------------------------------------------------------------------------
const ALPHABET = [0x00, 0x01, 0x1f, 0x7f, 0x80, 0xff, 0x2c, 0x3d, 0x48, 0x30, 0x31, 0x32, 0x39, ...Buffer.from('TRY_REQP')]
function soup(): Buffer {
  const n = int(0, 48)
  if (rand() < 0.5) return randomBytes(n)
  const out = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) out[i] = rand() < 0.8 ? pick(ALPHABET) : int(0, 255)
  return out
}

interface Outcome {
  exceptions: number
  problems: number
  chunkMismatch: number
  prefixLost: number
  suffixWrong: number
  strictSwallowed: number
  maxBuffered: number
  firstFailure: string | null
  stats: Map<Kind, { cases: number; swallowed: number; held: number }>
}

function fuzz(): Outcome {
  let exceptions = 0
  let problems = 0
  let chunkMismatch = 0
  let prefixLost = 0
  let suffixWrong = 0
  let strictSwallowed = 0
  let maxBuffered = 0
  let firstFailure: string | null = null
  const stats = new Map<Kind, { cases: number; swallowed: number; held: number }>(KINDS.map((k) => [k, { cases: 0, swallowed: 0, held: 0 }]))
  const note = (i: number, what: string, input: Buffer): void => {
    firstFailure ??= `case ${i} (seed ${SEED}): ${what}; input ${input.toString('hex')}`
  }

  for (let i = 0; i < CASES; i++) {
    const dmg = rand() < 0.9 ? damaged() : null
    const input = dmg ? dmg.input : soup()
    // every case in a random chunking; 1 in 4 also whole, to compare (a FrameError costs ~10 µs under
    // tap's coverage inspector, and the whole run doubles them)
    let run: Run
    let whole: Run | null = null
    try {
      run = decode(input, chunking(input))
      if (i % 4 === 0) whole = decode(input, [input], { plausible: generic })
    } catch (err) {
      exceptions++
      note(i, `threw ${(err as Error).stack}`, input)
      continue
    }
    for (const r of whole ? [run, whole] : [run]) {
      maxBuffered = Math.max(maxBuffered, r.maxBuffered)
      if (r.problem) {
        problems++
        note(i, r.problem, input)
      }
    }
    if (whole && (whole.buffered !== run.buffered || whole.sig.join() !== run.sig.join())) {
      chunkMismatch++
      note(i, `chunkings differ: ${whole.sig.join()} / ${run.sig.join()}`, input)
    }
    if (!dmg) continue

    const st = stats.get(dmg.kind)!
    st.cases++
    const got = run.frames
    if (dmg.prefix.some((p, k) => got[k]?.[0] !== p[0] || got[k]?.[1] !== p[1]) || !run.sig.slice(0, dmg.prefix.length).every((s) => s.startsWith('F'))) {
      prefixLost++
      note(i, `${dmg.kind}: frames before the damage not emitted first`, input)
    }
    const straddles = got.some(([s, e]) => s < dmg.dEnd && e > dmg.dEnd)
    // still waiting on a candidate that began inside the damage: undecided, not wrong
    const held = !straddles && run.offset < dmg.dEnd
    if (straddles || held) {
      if (straddles) st.swallowed++
      else st.held++
      if (STRICT.has(dmg.kind) && quietBoundary(input[dmg.dEnd]!)) {
        strictSwallowed++
        note(i, `${dmg.kind}: damage ${straddles ? 'swallowed' : 'held back'} the good frames after it`, input)
      }
    } else {
      // the decoder passed through dEnd at a frame boundary: from there on it is decoding the intact suffix
      const firstAfter = run.sig.findIndex((s) => Number(/^(?:F|E[A-Z_]+)(\d+)/.exec(s)![1]) >= dmg.dEnd)
      const tail = firstAfter < 0 ? [] : run.sig.slice(firstAfter)
      const want = dmg.suffix.map(([s, e]) => `F${s}-${e}`)
      if (tail.join() !== want.join() || run.buffered !== 0) {
        suffixWrong++
        note(i, `${dmg.kind}: frames after the damage: got ${tail.join()} want ${want.join()}`, input)
      }
    }
  }

  return { exceptions, problems, chunkMismatch, prefixLost, suffixWrong, strictSwallowed, maxBuffered, firstFailure, stats }
}

t.test(`fuzz: ${CASES} inputs, seed ${SEED}`, async (t) => {
  const started = Date.now()
  // Run from a fresh stack: under tap, coverage runs through an inspector session that records a
  // stack for every Error created, at a cost that grows with stack depth (FrameErrors dominate here).
  const { exceptions, problems, chunkMismatch, prefixLost, suffixWrong, strictSwallowed, maxBuffered, firstFailure, stats } = await new Promise<Outcome>((resolve) =>
    setImmediate(() => resolve(fuzz())),
  )
  const elapsed = Date.now() - started
  t.equal(exceptions, 0, 'write never threw')
  t.equal(problems, 0, 'byte accounting, offsets, buffered bound and leftover state hold for every write')
  t.equal(chunkMismatch, 0, `whole (generic check) and random chunking (incremental check) agree (${Math.ceil(CASES / 4)} cases compared)`)
  t.equal(prefixLost, 0, 'frames before the damage always come out first, unchanged')
  t.equal(suffixWrong, 0, 'when no emitted frame straddles the damage, exactly the frames after it come out')
  t.equal(strictSwallowed, 0, 'damage that cannot start a pop never swallows or holds back the frames after it')
  t.ok(maxBuffered <= MAX_BUFFERED, `buffered peaked at ${maxBuffered} (bound ${MAX_BUFFERED})`)
  if (firstFailure) t.comment(firstFailure)
  for (const [kind, s] of stats) {
    const pct = (n: number): string => `${((100 * n) / Math.max(1, s.cases)).toFixed(2)}%`
    t.comment(`${kind}: ${s.cases} cases; a false frame swallowed good bytes in ${s.swallowed} (${pct(s.swallowed)}), still undecided at the end in ${s.held} (${pct(s.held)})`)
  }
  // Regression guard on resync quality, with slack over what this seed measures: garbage between
  // frames rarely costs a good frame. Damage inside a frame (cut short, length byte changed) usually
  // does: a frame cut short and followed by printable bytes is indistinguishable from a longer frame.
  const g = stats.get('garbage')!
  t.ok(g.swallowed / g.cases < 0.01, `random garbage between frames swallowed a good frame in ${g.swallowed} of ${g.cases} cases`)
  t.comment(`${CASES} cases in ${elapsed} ms`)
})
