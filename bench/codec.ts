/**
 * LQ-Connect codec + pop parser throughput, one core.
 *
 * A stream of realistic frames (t1v1…t1v5 in rotation from the simulator's field generator, Chinese
 * `da` in GBK, a TRY_REQ every 50 frames) is cut into TCP-sized chunks and fed through
 * `LqConnectDecoder.write`, and each pop payload through `tryParsePop` (Asia/Shanghai), as
 * LqSocketSource → PopHub.receive do. Variants are measured in interleaved rounds after a warm-up;
 * the median round is reported, with the spread.
 *
 * Baselines in the same run: a bare length-byte walker that copies each payload like the decoder
 * does (no plausibility check, no chunk bookkeeping), `decodePop` alone (GBK → string, the part of
 * parsing no parser can skip) and, for reference, Node's TextDecoder('gbk') on the same bytes.
 * Parse-only is also measured per format, to show which format costs what.
 */
import { LqConnectDecoder, encodePop, encodeTryReq, TRY_REQ, type Frame, type FrameError } from '../protocols/lq-connect/index.js'
import { decodePop, formatPop, tryParsePop, type PopFormat } from '../protocols/lq-pop/index.js'
import { LqSimulator } from '../daemon/vendors/lq-socket/simulator.js'
import { finish, fixed, int, load, median, report, say } from './common.js'

const BENCH = 'codec+parser'
const DISTINCT_POPS = 20_000
const TRY_EVERY = 50
const REPEAT = 4 // the stream is fed this many times per round: 80,000 pops a round
const WARMUP_ROUNDS = 3
const ROUNDS = 7
const AIM = 500_000
const OPTS = { timeZone: 'Asia/Shanghai' }
const FORMATS: PopFormat[] = ['t1v1', 't1v2', 't1v3', 't1v4', 't1v5']

// ---- the stream -------------------------------------------------------------------------------
const sim = new LqSimulator({ channels: 64, agents: ['801', '802', '803', '804', '805', '806'], timeZone: 'Asia/Shanghai' }, undefined, 7)
const frames: Buffer[] = []
const texts: string[] = []
let tryReqs = 0
for (let i = 0; i < DISTINCT_POPS; i++) {
  if (i > 0 && i % TRY_EVERY === 0) {
    frames.push(encodeTryReq())
    tryReqs++
  }
  const text = formatPop(sim.randomFields(), FORMATS[i % FORMATS.length]!)
  texts.push(text)
  frames.push(encodePop(text))
}
const stream = Buffer.concat(frames)
const popBytes = stream.length - tryReqs * TRY_REQ.length
const chinese = texts.filter((t) => /[^\x00-\x7f]/.test(t)).length

function chunk(size: number): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < stream.length; i += size) out.push(stream.subarray(i, Math.min(stream.length, i + size)))
  return out
}
const chunks1460 = chunk(1460)
const chunks16k = chunk(16 * 1024)

// payloads as the decoder hands them over (fresh copies), for the parse-only variant
const payloads: Buffer[] = []
new LqConnectDecoder().write(
  stream,
  (f) => {
    if (f.type === 'pop') payloads.push(f.payload)
  },
  () => {},
)
if (payloads.length !== DISTINCT_POPS) throw new Error(`decoder found ${payloads.length} pops, expected ${DISTINCT_POPS}`)
let badPops = 0
for (const p of payloads) if (!tryParsePop(p, OPTS).ok) badPops++
if (badPops) throw new Error(`${badPops} generated pops do not parse`)

// ---- variants (each returns the pops it handled; a checksum keeps the work observable) ----------
let sink = 0
let frameErrors = 0
const onError = (e: FrameError) => {
  frameErrors += e.bytes.length
}

function decodeOnly(chunks: Buffer[]): number {
  let pops = 0
  const onFrame = (f: Frame) => {
    if (f.type === 'pop') {
      pops++
      sink += f.payload.length
    }
  }
  for (let r = 0; r < REPEAT; r++) {
    const dec = new LqConnectDecoder()
    for (const c of chunks) dec.write(c, onFrame, onError)
  }
  return pops
}

function parseOnly(): number {
  let pops = 0
  for (let r = 0; r < REPEAT; r++) {
    for (const p of payloads) {
      const res = tryParsePop(p, OPTS)
      if (res.ok) {
        pops++
        sink += res.pop.raw.length
      }
    }
  }
  return pops
}

function decodeAndParse(chunks: Buffer[]): number {
  let pops = 0
  const onFrame = (f: Frame) => {
    if (f.type === 'pop') {
      const res = tryParsePop(f.payload, OPTS)
      if (res.ok) {
        pops++
        sink += res.pop.raw.length
      }
    }
  }
  for (let r = 0; r < REPEAT; r++) {
    const dec = new LqConnectDecoder()
    for (const c of chunks) dec.write(c, onFrame, onError)
  }
  return pops
}

/** Baseline: walk length bytes over the whole stream, skip TRY_REQ, copy each payload. */
function bareWalk(): number {
  let pops = 0
  for (let r = 0; r < REPEAT; r++) {
    const b = stream
    let i = 0
    while (i < b.length) {
      const n = b[i]!
      if (n === 0x54 /* T */ && b[i + 1] === 0x52 /* R */) {
        i += 7
        continue
      }
      const payload = Buffer.from(b.subarray(i + 1, i + 1 + n))
      sink += payload.length
      pops++
      i += 1 + n
    }
  }
  return pops
}

/** Baseline: GBK → string only (decodePop), what any parser has to do first. */
function gbkOnly(): number {
  let pops = 0
  for (let r = 0; r < REPEAT; r++) {
    for (const p of payloads) {
      sink += decodePop(p).length
      pops++
    }
  }
  return pops
}

/** Reference: the same bytes through Node's own WHATWG decoder (ICU), which the daemon does not use. */
const whatwgGbk = new TextDecoder('gbk')
function gbkTextDecoder(): number {
  let pops = 0
  for (let r = 0; r < REPEAT; r++) {
    for (const p of payloads) {
      sink += whatwgGbk.decode(p).length
      pops++
    }
  }
  return pops
}

/** parse only, one format: its payloads repeated to the same pop count as the other variants */
const byFormat = new Map<PopFormat, Buffer[]>(FORMATS.map((f) => [f, payloads.filter((_, i) => FORMATS[i % FORMATS.length] === f)]))
function parseFormat(f: PopFormat): () => number {
  const list = byFormat.get(f)!
  const times = (REPEAT * DISTINCT_POPS) / list.length
  return () => {
    let pops = 0
    for (let r = 0; r < times; r++) {
      for (const p of list) {
        const res = tryParsePop(p, OPTS)
        if (res.ok) {
          pops++
          sink += res.pop.raw.length
        }
      }
    }
    return pops
  }
}

interface Variant {
  metric: string
  run: () => number
  aim?: boolean
  baseline?: boolean
  samples: number[]
}
const variants: Variant[] = [
  { metric: 'decode only, 1460 B chunks', run: () => decodeOnly(chunks1460), samples: [] },
  { metric: 'decode only, 16 KiB chunks', run: () => decodeOnly(chunks16k), samples: [] },
  { metric: 'parse only (tryParsePop)', run: parseOnly, samples: [] },
  { metric: 'decode+parse, 1460 B chunks', run: () => decodeAndParse(chunks1460), aim: true, samples: [] },
  { metric: 'decode+parse, 16 KiB chunks', run: () => decodeAndParse(chunks16k), aim: true, samples: [] },
  { metric: 'baseline: bare length walk+copy', run: bareWalk, baseline: true, samples: [] },
  { metric: 'baseline: GBK decode only (decodePop)', run: gbkOnly, baseline: true, samples: [] },
  { metric: "reference: TextDecoder('gbk') only", run: gbkTextDecoder, baseline: true, samples: [] },
  ...FORMATS.map((f) => ({
    metric: `parse only, ${f} only${f === 't1v5' ? ` (${Math.round((chinese / byFormat.get(f)!.length) * 100)}% Chinese)` : ''}`,
    run: parseFormat(f),
    samples: [] as number[],
  })),
]

say(
  `${BENCH}: ${DISTINCT_POPS.toLocaleString('en-US')} distinct pops (t1v1…t1v5 in rotation, ${chinese} with GBK Chinese da) + ${tryReqs} TRY_REQ, ` +
    `${int(stream.length)} bytes (${fixed(popBytes / DISTINCT_POPS, 1)} B/pop frame incl. length byte); ` +
    `${REPEAT * DISTINCT_POPS} pops per round, ${WARMUP_ROUNDS} warm-up + ${ROUNDS} measured rounds per variant, interleaved; median round; ${load()}`,
)

for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
  for (const v of variants) {
    const t0 = process.hrtime.bigint()
    const pops = v.run()
    const ns = Number(process.hrtime.bigint() - t0)
    if (pops !== REPEAT * DISTINCT_POPS) throw new Error(`${v.metric}: handled ${pops} pops, expected ${REPEAT * DISTINCT_POPS}`)
    if (round >= WARMUP_ROUNDS) v.samples.push((pops / ns) * 1e9)
  }
}
if (frameErrors) throw new Error(`decoder skipped ${frameErrors} bytes of a clean stream`)

for (const v of variants) {
  const lo = Math.min(...v.samples)
  const hi = Math.max(...v.samples)
  report({
    bench: BENCH,
    metric: v.metric,
    value: median(v.samples),
    unit: 'pops/s',
    aim: v.aim ? { op: '>=', value: AIM } : undefined,
    note: `[rounds ${int(lo)}…${int(hi)}]`,
  })
}
const dp = median(variants[3]!.samples)
say(`  per pop (decode+parse, 1460 B chunks, median round): ${fixed(1e9 / dp, 0)} ns`)
if (sink === 0) say('  (nothing was decoded?)')
finish()
