import t from 'tap'
import { isDeepStrictEqual } from 'node:util'
import iconv from 'iconv-lite'
import {
  FrameError,
  LqConnectDecoder,
  MAX_BUFFERED,
  MAX_POP_BYTES,
  TRY_REP,
  TRY_REQ,
  encodePop,
  encodeRegistration,
  encodeTryRep,
  encodeTryReq,
  plausiblePop,
  type Frame,
  type LqConnectDecoderOptions,
} from '../protocols/lq-connect/index.js'
import { feedAll, firstMismatch, prng, randomChunks, splits } from '../protocols/testing/chunks.js'
import { decodeChunks, ev, lq, normalize, type LqEvent } from '../protocols/testing/lq.js'

const gbk = (s: string): Buffer => iconv.encode(s, 'gbk')
const ascii = (s: string): Buffer => Buffer.from(s, 'latin1')
const cat = (...parts: Buffer[]): Buffer => Buffer.concat(parts)

// ---- pop texts -------------------------------------------------------------------------------
const P2 = 'H=t1v2,ch=2,ph=86307627,id=12157703713752,tm=080711175931,dm=0;' // 63 bytes, length byte '?'
const T1 = '2,02586307627,1000,1208674344953,NA' // 35 bytes, length byte '#'
const CN = 'H=t1v5,ch=2,ph=86307627,ty=1,tm=080711175931,op=801,sn=1234,mb=0,da=城市:南京|省:江苏,dm=0;' // 91 bytes
/** exactly `n` GBK bytes, starting `H=`, Chinese in the middle */
function popText(n: number): string {
  const head = 'H=t1v5,ch=3,ph=13900000000,ty=1,tm=080711175931,op=801,sn=1,mb=0,da=备注:'
  const tail = ',dm=0;'
  let mid = ''
  while (gbk(head + mid + tail).length + 2 <= n) mid += '南京'.slice(mid.length % 2, (mid.length % 2) + 1)
  while (gbk(head + mid + tail).length < n) mid += 'x'
  const s = head + mid + tail
  if (gbk(s).length !== n) throw new Error(`popText(${n}) built ${gbk(s).length} bytes`)
  return s
}
const MAXTEXT = popText(255)
const H72 = 'H=t1v2,ch=2,ph=86307627,id=12157703713752,tm=080711175931,da=0,mb=0,dm=0;'.slice(0, 71) + ';' // length byte 'H'
const T84 = popText(84) // length byte 'T', like the first byte of TRY_REQ

// seeded, so the "random" garbage is the same on every run
const rand = prng(20240611)
const GARBAGE = Buffer.from(Array.from({ length: 64 }, () => Math.floor(rand() * 256)))
GARBAGE[10] = GARBAGE[11] = GARBAGE[40] = 0 // plant zero bytes so both error codes occur

// ---- fixture table ---------------------------------------------------------------------------
interface Fixture {
  name: string
  input: Buffer
  events: LqEvent[]
  /** bytes left waiting at the end (default 0) */
  buffered?: number
  opts?: LqConnectDecoderOptions
}

/** a frame of `body` as sent, length byte counting every byte (terminators included) */
const framed = (body: Buffer): Buffer => cat(Buffer.of(body.length), body)
const printable = (p: Buffer): boolean => p.every((b) => b >= 0x20 && b !== 0x7f)

const fixtures: Fixture[] = [
  { name: 'TRY_REQ alone', input: lq.tryReq(), events: [ev.hs()] },
  { name: 'pop alone, t1v2 ASCII', input: lq.pop(P2), events: [ev.pop(P2)] },
  { name: 'pop alone, t1v1', input: lq.pop(T1), events: [ev.pop(T1)] },
  { name: 'pop alone, t1v5 with GBK Chinese', input: lq.pop(CN), events: [ev.pop(CN)] },
  { name: 'smallest pops: "H=" and "1,"', input: cat(lq.pop('H='), lq.pop('1,')), events: [ev.pop('H='), ev.pop('1,')] },
  {
    name: 'TRY_REQ between pops',
    input: cat(lq.pop(P2), lq.tryReq(), lq.pop(T1), lq.tryReq(), lq.tryReq(), lq.pop(CN)),
    events: [ev.pop(P2), ev.hs(), ev.pop(T1), ev.hs(), ev.hs(), ev.pop(CN)],
  },
  { name: '255-byte pop (length byte 0xFF)', input: cat(lq.pop(MAXTEXT), lq.pop(T1)), events: [ev.pop(MAXTEXT), ev.pop(T1)] },
  { name: '"TRY_REQ" inside pop text is just text', input: lq.pop('H=t1v2,da=TRY_REQ,dm=0;'), events: [ev.pop('H=t1v2,da=TRY_REQ,dm=0;')] },
  { name: '84-byte pop: length byte T starts like TRY_REQ but is a pop', input: cat(lq.pop(T84), lq.tryReq()), events: [ev.pop(T84), ev.hs()] },

  // ---- resynchronisation
  { name: 'zero length byte, then a pop', input: cat(Buffer.of(0), lq.pop(P2)), events: [ev.err('ZERO_LENGTH', 1), ev.pop(P2)] },
  {
    name: 'zero bytes between pops',
    input: cat(lq.pop(P2), Buffer.of(0, 0, 0), lq.pop(T1)),
    events: [ev.pop(P2), ev.err('ZERO_LENGTH', 3), ev.pop(T1)],
  },
  {
    // every garbage byte is skipped on its own; the pops after it all come out
    name: '64 random garbage bytes, then pops',
    input: cat(GARBAGE, lq.pop(P2), lq.pop(CN), lq.tryReq(), lq.pop(T1)),
    events: [...ev.skipped(GARBAGE), ev.pop(P2), ev.pop(CN), ev.hs(), ev.pop(T1)],
  },
  {
    name: 'garbage around a handshake',
    input: cat(Buffer.of(0xff, 0x00, 0x13, 0x80), lq.tryReq(), Buffer.of(0x7f, 0x00, 0x00, 0xaa), lq.pop(P2)),
    events: [
      ev.err('IMPLAUSIBLE_FRAME', 1),
      ev.err('ZERO_LENGTH', 1),
      ev.err('IMPLAUSIBLE_FRAME', 2),
      ev.hs(),
      ev.err('IMPLAUSIBLE_FRAME', 1),
      ev.err('ZERO_LENGTH', 2),
      ev.err('IMPLAUSIBLE_FRAME', 1),
      ev.pop(P2),
    ],
  },
  {
    // 0x05 + "HH=…": the H is not followed by '=', so the 0x05 frame is rejected; then 'H' (72) frames "H=…"
    name: 'stray byte before a pop whose length byte is H (72)',
    input: cat(Buffer.of(0x05), lq.pop(H72)),
    events: [ev.err('IMPLAUSIBLE_FRAME', 1), ev.pop(H72)],
  },
  {
    // 0x03 "Hx1": H without '='; 'H' (72) + "x1…"; 'x' (120) + "1?…" (digit not followed by ','); '1' + "?…"
    name: 'H= rule: "H" followed by anything but "=" is no pop',
    input: cat(Buffer.of(0x03), ascii('Hx1'), lq.pop(P2)),
    events: [ev.err('IMPLAUSIBLE_FRAME', 4), ev.pop(P2)],
  },
  { name: 'a complete 1-byte payload "H" is no pop', input: cat(Buffer.of(0x01), ascii('H'), lq.pop(T1)), events: [ev.err('IMPLAUSIBLE_FRAME', 2), ev.pop(T1)] },
  { name: 't1v1 rule: digits never followed by "," are no pop', input: cat(Buffer.of(0x05), ascii('12345'), lq.pop(P2)), events: [ev.err('IMPLAUSIBLE_FRAME', 6), ev.pop(P2)] },
  {
    // the prefix is checked as soon as it arrives: 0x40 is rejected on 'x' without waiting for 64 bytes;
    // 'x' and 'y' likewise; 'z' (122) has no payload byte yet and waits
    name: 'early rejection: \\x40xyz',
    input: cat(Buffer.of(0x40), ascii('xyz')),
    events: [ev.err('IMPLAUSIBLE_FRAME', 3)],
    buffered: 1,
  },
  {
    // the 13-byte frame has a \x01 → rejected; every byte of it is then tried as a length byte and rejected
    // ('v' + "2,c\x01…" passes the prefix test, fails on the control byte)
    name: 'control byte inside a frame: whole frame skipped, next pop found',
    input: cat(Buffer.of(13), ascii('H=t1v2,c\x01h=2;'), lq.pop(P2)),
    events: [ev.err('IMPLAUSIBLE_FRAME', 14), ev.pop(P2)],
  },
  { name: 'DEL (0x7F) inside a frame', input: cat(Buffer.of(0x05), ascii('H=t1\x7f'), lq.pop(T1)), events: [ev.err('IMPLAUSIBLE_FRAME', 6), ev.pop(T1)] },

  // ---- issue 11: a length byte that counts a trailing NUL, CR, LF or CRLF (C strings, lines): the pop, terminator stripped
  { name: 'length counts a trailing NUL', input: cat(framed(gbk(P2 + '\0')), lq.pop(T1)), events: [ev.pop(P2), ev.pop(T1)] },
  { name: 'length counts a trailing CR', input: cat(framed(gbk(T1 + '\r')), lq.pop(P2)), events: [ev.pop(T1), ev.pop(P2)] },
  { name: 'length counts a trailing LF', input: cat(framed(gbk(CN + '\n')), lq.pop(T1)), events: [ev.pop(CN), ev.pop(T1)] },
  { name: 'length counts a trailing CRLF', input: cat(framed(gbk(CN + '\r\n')), framed(gbk(P2 + '\r\n'))), events: [ev.pop(CN), ev.pop(P2)] },
  { name: 'CRLF pop, then a truncated CRLF pop waits', input: cat(framed(gbk(P2 + '\r\n')), framed(gbk(T1 + '\r\n')).subarray(0, 37)), events: [ev.pop(P2)], buffered: 37 },
  {
    // a terminator is only the last byte(s): text after it, or two terminators, still make the frame implausible
    name: 'text after a CR, or LF CR, is no terminator',
    input: cat(framed(ascii('H=a;\rb')), framed(ascii('H=a;\n\r')), lq.pop(T1)),
    events: [ev.err('IMPLAUSIBLE_FRAME', 14), ev.pop(T1)],
  },

  // ---- handshake prefixes
  { name: 'TRY_X: not the handshake; T (84) frame implausible, rescan finds the pop', input: cat(ascii('TRY_X'), lq.pop(P2)), events: [ev.err('IMPLAUSIBLE_FRAME', 5), ev.pop(P2)] },
  { name: 'TRY then a pop', input: cat(ascii('TRY'), lq.pop(P2)), events: [ev.err('IMPLAUSIBLE_FRAME', 3), ev.pop(P2)] },
  { name: 'TRY_RE then TRY_REQ', input: cat(ascii('TRY_RE'), lq.tryReq(), lq.pop(P2)), events: [ev.err('IMPLAUSIBLE_FRAME', 6), ev.hs(), ev.pop(P2)] },
  { name: 'TRY_REP is garbage to the TRY_REQ side', input: cat(lq.tryRep(), lq.pop(T1)), events: [ev.err('IMPLAUSIBLE_FRAME', 7), ev.pop(T1)] },

  // ---- incomplete at the end of the stream: nothing emitted, bytes held
  { name: 'truncated pop', input: lq.pop(P2).subarray(0, 40), events: [], buffered: 40 },
  { name: 'pop, then a truncated GBK pop', input: cat(lq.pop(T1), lq.pop(CN).subarray(0, 80)), events: [ev.pop(T1)], buffered: 80 },
  { name: 'truncated 255-byte pop holds 255 bytes', input: lq.pop(MAXTEXT).subarray(0, 255), events: [], buffered: 255 },
  { name: 'only a length byte', input: Buffer.of(0x20), events: [], buffered: 1 },
  { name: 'pop, then TRY_RE waits for the rest of the handshake', input: cat(lq.pop(P2), ascii('TRY_RE')), events: [ev.pop(P2)], buffered: 6 },

  // ---- the server side: receives TRY_REP
  {
    name: 'TRY_REP side: handshake and a t1v1-shaped registration',
    opts: { handshake: 'TRY_REP' },
    input: cat(lq.tryRep(), lq.pop('801,-1'), lq.tryRep()),
    events: [ev.hs('TRY_REP'), ev.pop('801,-1'), ev.hs('TRY_REP')],
  },
  {
    name: 'TRY_REP side: TRY_REQ is garbage',
    opts: { handshake: 'TRY_REP' },
    input: cat(lq.tryReq(), lq.tryRep()),
    events: [ev.err('IMPLAUSIBLE_FRAME', 7), ev.hs('TRY_REP')],
  },
  {
    name: 'TRY_REP side with a custom plausibility check (any printable text)',
    opts: { handshake: 'TRY_REP', plausible: printable },
    input: cat(lq.tryRep(), lq.pop('oper=801,ch=-1;'), Buffer.of(0), lq.pop('工号=801'), lq.tryRep()),
    events: [ev.hs('TRY_REP'), ev.pop('oper=801,ch=-1;'), ev.err('ZERO_LENGTH', 1), ev.pop('工号=801'), ev.hs('TRY_REP')],
  },

  // ---- pinned limit of plausibility-based resync (see the report): a stray 0x10 before a t1v1 pop
  // whose length byte is '2' (50) reads as a 16-byte frame "21,0258630762700": printable, starts with
  // digits + ',' → accepted. The real pop is lost and the decoder then waits on ',' (44) + 34 bytes.
  {
    name: 'KNOWN LIMIT: stray byte before a t1v1 pop with an ASCII-digit length byte',
    input: cat(Buffer.of(0x10), lq.pop('1,0258630762700,1000,1208674344953,NA'.padEnd(50, 'A'))),
    events: [ev.pop('21,0258630762700')],
    buffered: 35,
  },
]

type Result = { events: LqEvent[]; buffered: number; problems: string[] }
const decodeWith =
  (opts: LqConnectDecoderOptions = {}) =>
  (chunks: Buffer[]): Result => {
    const r = decodeChunks(chunks, opts)
    return { events: r.events, buffered: r.buffered, problems: r.problems }
  }
const expected = (events: LqEvent[], buffered = 0): Result => ({ events: normalize(events), buffered, problems: [] })

t.test('fixtures: whole, byte by byte, and split at every boundary give the same result', async (t) => {
  for (const f of fixtures) {
    const want = expected(f.events, f.buffered)
    const runs = feedAll(f.input, decodeWith(f.opts))
    t.same(runs[0]!.result, want, `${f.name}: whole`)
    const bad = firstMismatch(runs, want)
    t.same(bad ?? null, null, `${f.name}: all ${runs.length} chunkings agree`)
    if (!f.opts?.plausible) {
      // the same check wrapped in a function takes the decoder's generic (non-incremental) path
      const generic = decodeWith({ ...f.opts, plausible: (p, c) => plausiblePop(p, c) })
      const split = [...splits(f.input)]
      t.same([generic(split[0]!.chunks), generic(split[1]?.chunks ?? [f.input])], [want, want], `${f.name}: same through a custom check`)
    }
  }
})

t.test('fixtures merged with others in one stream', async (t) => {
  const groups = new Map<string, Fixture[]>()
  for (const f of fixtures) {
    const key = JSON.stringify({ h: f.opts?.handshake, p: f.opts?.plausible ? 'custom' : 'default' })
    groups.set(key, [...(groups.get(key) ?? []), f])
  }
  for (const [key, group] of groups) {
    const run = decodeWith(group[0]!.opts)
    // fixtures that end clean compose: decoding at a frame boundary depends only on what follows
    const clean = group.filter((f) => (f.buffered ?? 0) === 0)
    const all = cat(...clean.map((f) => f.input))
    const want = expected(clean.flatMap((f) => f.events))
    t.same(run([all]), want, `${key}: ${clean.length} fixtures in one chunk`)
    // byte by byte, and 200 seeded random chunkings (every split point of this long stream is slow and adds little)
    const r = prng(all.length)
    const chunkings = [[...all].map((b) => Buffer.of(b)), ...Array.from({ length: 200 }, () => randomChunks(all, r, 1 + Math.floor(r() * 100)))]
    const bad = chunkings.map((c) => run(c)).find((res) => !isDeepStrictEqual(res, want))
    t.same(bad ?? null, null, `${key}: merged stream agrees byte by byte and in 200 random chunkings`)
    // each open-ended fixture at the end of the merged stream
    for (const f of group.filter((f) => (f.buffered ?? 0) > 0)) {
      t.same(run([cat(all, f.input)]), expected([...want.events, ...f.events], f.buffered), `${key}: merged + ${f.name}`)
    }
    // each fixture between two pops, in every chunking
    const before = lq.pop(f0(group))
    for (const f of group) {
      const open = (f.buffered ?? 0) > 0
      const input = open ? cat(before, f.input) : cat(before, f.input, before)
      const events = [ev.pop(f0(group)), ...f.events, ...(open ? [] : [ev.pop(f0(group))])]
      t.same(firstMismatch(feedAll(input, run), expected(events, f.buffered)) ?? null, null, `${key}: pop + ${f.name}${open ? '' : ' + pop'}`)
    }
  }
  // a pop every decoder in the table accepts
  function f0(group: Fixture[]): string {
    return group[0]!.opts?.handshake === 'TRY_REP' ? '801,-1,中文' : CN
  }
})

t.test('the random garbage fixture really is random-looking', async (t) => {
  t.ok(GARBAGE.includes(0), 'contains a zero byte')
  t.ok(
    [...GARBAGE].some((b) => b >= 0x80),
    'contains high bytes',
  )
  t.ok(
    [...GARBAGE].some((b) => b >= 0x20 && b < 0x7f),
    'contains printable bytes',
  )
})

t.test('plausiblePop', async (t) => {
  const cases: [string | Buffer, boolean, boolean][] = [
    // [payload, complete, expected]
    ['H=t1v2,ch=2;', true, true],
    ['H=', true, true],
    ['H', true, false],
    ['H', false, true], // could still become H=
    ['HH', false, false],
    ['2,0258', true, true],
    ['123', false, true], // the ',' may come
    ['123', true, false],
    ['12a', false, false],
    [',12', false, false], // needs at least one digit
    ['@xyz', false, false],
    ['', false, true],
    ['', true, false],
    [gbk('H=da=城市:南京'), true, true],
    ['H=a\tb', true, false],
    ['H=a\x7f', false, false],
    // issue 11: one trailing NUL, CR, LF or CRLF is a terminator the length byte counted (was false)
    ['1,\x00', false, true],
    ['1,\x00', true, true],
    ['H=a;\r\n', true, true],
    ['H=a;\r', false, true],
    ['H=a;\r', true, true],
    ['H=a;\n', true, true],
    ['1,\x00x', false, false],
    ['H=a;\r\r', false, false],
    ['H=a;\n\r', false, false],
    ['H=a;\r\n\x00', false, false],
    ['H=a;\n\n', false, false],
    ['H=\x00', true, true],
    ['H\x00', false, false],
    ['12\r\n', true, false],
    [Buffer.of(0x48, 0x3d, 0x80, 0xff), true, true], // high bytes are fine (GBK)
  ]
  for (const [p, complete, want] of cases) {
    const b = typeof p === 'string' ? ascii(p) : p
    t.equal(plausiblePop(b, complete), want, `${JSON.stringify(b.toString('latin1'))} complete=${complete}`)
  }
})

t.test('decoder API', async (t) => {
  t.test('offset, buffered, payload copies', async (t) => {
    const d = new LqConnectDecoder()
    const frames: Frame[] = []
    const offsets: number[] = []
    const stream = cat(lq.pop(P2), lq.tryReq(), lq.pop(T1))
    const chunk1 = Buffer.from(stream.subarray(0, 70))
    d.write(chunk1, (f) => (frames.push(f), offsets.push(d.offset)), t.fail)
    t.equal(frames.length, 1)
    t.equal(d.offset, 64, 'offset counts consumed bytes')
    t.equal(d.buffered, 6, 'TRY_RE held')
    chunk1.fill(0) // the caller reuses its buffer: the payload must not change
    d.write(Buffer.from(stream.subarray(70)), (f) => (frames.push(f), offsets.push(d.offset)), t.fail)
    t.same(offsets, [64, 71, 107], 'inside onFrame, offset is just past that frame')
    t.equal(d.buffered, 0)
    t.equal(d.offset, stream.length)
    t.same(frames, [
      { type: 'pop', payload: gbk(P2) },
      { type: 'handshake', token: 'TRY_REQ' },
      { type: 'pop', payload: gbk(T1) },
    ])
  })

  t.test('reset', async (t) => {
    const d = new LqConnectDecoder()
    d.write(lq.pop(P2).subarray(0, 30), t.fail, t.fail)
    t.equal(d.buffered, 30)
    d.reset()
    t.equal(d.buffered, 0)
    t.equal(d.offset, 0)
    const got: Frame[] = []
    d.write(lq.pop(T1), (f) => got.push(f), t.fail)
    t.same(got, [{ type: 'pop', payload: gbk(T1) }], 'a new stream after reset')
  })

  t.test('reset from a callback drops the rest of the chunk', async (t) => {
    const d = new LqConnectDecoder()
    const got: Frame[] = []
    d.write(
      cat(lq.pop(P2), lq.pop(T1), lq.pop(CN)),
      (f) => {
        got.push(f)
        d.reset()
      },
      t.fail,
    )
    t.equal(got.length, 1)
    t.equal(d.buffered, 0)
    t.equal(d.offset, 0)
    let errors = 0
    d.write(
      cat(Buffer.of(0), lq.pop(P2)),
      (f) => got.push(f),
      () => (errors++, d.reset()),
    )
    t.equal(errors, 1)
    t.equal(got.length, 1, 'reset in onError: the pop after the error is dropped too')
  })

  t.test('errors: FrameError fields, coalescing, prompt reporting', async (t) => {
    const d = new LqConnectDecoder()
    const errs: FrameError[] = []
    d.write(cat(lq.pop(T1), ascii('\x40xyz'), Buffer.of(0, 0)), t.pass, (e) => errs.push(e))
    t.equal(errs.length, 2, 'one error per run of the same code, reported within the write')
    const [a, b] = errs
    t.ok(a instanceof Error && a instanceof FrameError)
    t.match(a, { name: 'FrameError', code: 'IMPLAUSIBLE_FRAME', offset: 36, bytes: ascii('\x40xyz') })
    t.match(a!.message, /IMPLAUSIBLE_FRAME: skipped 4 bytes at stream offset 36/)
    t.match(b, { code: 'ZERO_LENGTH', offset: 40, bytes: Buffer.of(0, 0) })
    t.equal(d.buffered, 0)
  })

  t.test('a run split across writes stays contiguous and exact', async (t) => {
    const d = new LqConnectDecoder()
    const errs: FrameError[] = []
    for (const b of GARBAGE.filter((x) => x !== 0)) d.write(Buffer.of(b), t.fail, (e) => errs.push(e))
    const total = errs.reduce((n, e) => n + e.bytes.length, 0)
    t.ok(
      errs.every((e, i) => i === 0 || e.offset === errs[i - 1]!.offset + errs[i - 1]!.bytes.length),
      'contiguous',
    )
    t.equal(total + d.buffered, GARBAGE.filter((x) => x !== 0).length)
  })

  t.test('custom plausible: called partial then complete; a throwing check rejects', async (t) => {
    const calls: [string, boolean][] = []
    const d = new LqConnectDecoder({
      plausible: (p, complete) => {
        calls.push([p.toString('latin1'), complete])
        return true
      },
    })
    d.write(ascii('\x03ab'), t.fail, t.fail)
    d.write(ascii('c'), t.pass, t.fail)
    t.same(calls, [
      ['ab', false],
      ['abc', true],
    ])
    const throwing = new LqConnectDecoder({
      plausible: (p) => {
        if (p[0] === 0x21) throw new Error('boom')
        return p[0] === 0x6f
      },
    })
    const got: string[] = []
    // \x02 + "!!" and '!' + "!\x02ok" make the check throw: rejected; '!' + "\x02ok" is refused; \x02 + "ok" is a frame
    throwing.write(
      ascii('\x02!!\x02ok'),
      (f) => got.push(f.type === 'pop' ? f.payload.toString() : 'hs'),
      (e) => got.push(`${e.code} ${e.bytes.length}`),
    )
    t.same(got, ['IMPLAUSIBLE_FRAME 3', 'ok'])
  })

  t.test('callback exceptions propagate; the frame counts as consumed', async (t) => {
    const d = new LqConnectDecoder()
    const seen: string[] = []
    const input = cat(lq.pop(P2), lq.pop(T1))
    t.throws(() =>
      d.write(
        input,
        (f) => {
          if (f.type === 'pop') seen.push(f.payload.toString())
          if (seen.length === 1) throw new Error('handler bug')
        },
        t.fail,
      ),
    )
    d.write(Buffer.alloc(0), t.fail, t.fail)
    t.equal(d.buffered, 36, 'the rest of the chunk is still held')
    d.write(lq.tryReq(), (f) => seen.push(f.type === 'pop' ? f.payload.toString() : 'hs'), t.fail)
    t.same(seen, [P2, T1, 'hs'], 'nothing re-emitted, nothing lost')
  })

  t.test('write from a callback is refused', async (t) => {
    const d = new LqConnectDecoder()
    t.throws(() => d.write(lq.tryReq(), () => d.write(lq.tryReq(), t.fail, t.fail), t.fail), /own callback/)
    // still usable
    const got: Frame[] = []
    d.write(lq.tryReq(), (f) => got.push(f), t.fail)
    t.equal(got.length, 1)
  })

  t.test('large chunks and byte-by-byte input are linear', async (t) => {
    const one = cat(lq.pop(CN), lq.tryReq(), lq.pop(MAXTEXT), Buffer.of(0), lq.pop(T1))
    const reps = 2000
    const stream = Buffer.concat(Array.from({ length: reps }, () => one)) // ~800 KB
    let frames = 0
    let skipped = 0
    const d = new LqConnectDecoder()
    d.write(
      stream,
      () => frames++,
      (e) => (skipped += e.bytes.length),
    )
    t.equal(frames, reps * 4)
    t.equal(skipped, reps)
    // a huge chunk while bytes are held goes through the decoder's own buffer, which then shrinks back
    const held = new LqConnectDecoder()
    let heldFrames = 0
    held.write(
      stream.subarray(0, 10),
      () => heldFrames++,
      () => {},
    )
    held.write(
      stream.subarray(10),
      () => heldFrames++,
      () => {},
    )
    t.equal(heldFrames, reps * 4)
    t.equal(held.buffered, 0)
    t.ok((held as unknown as { store: Buffer }).store.length <= 4096, 'no 800 KB buffer kept after the burst')
    const part = stream.subarray(0, 200_000)
    const started = process.hrtime.bigint()
    frames = 0
    const d2 = new LqConnectDecoder()
    for (let i = 0; i < part.length; i++)
      d2.write(
        part.subarray(i, i + 1),
        () => frames++,
        () => {},
      )
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    t.ok(ms < 5000, `200 KB byte by byte in ${ms.toFixed(0)} ms`)
    t.ok(frames > 0)
  })
})

t.test('encoders', async (t) => {
  t.test('handshakes', async (t) => {
    t.same(encodeTryReq(), ascii('TRY_REQ'))
    t.same(encodeTryRep(), ascii('TRY_REP'))
    t.same(TRY_REQ, ascii('TRY_REQ'))
    t.same(TRY_REP, ascii('TRY_REP'))
    const mine = encodeTryReq()
    mine[0] = 0
    t.same(encodeTryReq(), ascii('TRY_REQ'), 'each call returns a fresh copy')
    t.same(TRY_REQ, ascii('TRY_REQ'))
  })

  t.test('pops: bytes, GBK, round trip', async (t) => {
    t.same(encodePop(P2), lq.pop(P2))
    t.same(encodePop(CN), cat(Buffer.of(91), iconv.encode(CN, 'gbk')))
    // 城市:南京 in GBK, written out so the test does not only trust iconv-lite
    t.same(encodePop('城市:南京').toString('hex'), '09' + 'b3c7cad0' + '3a' + 'c4cfbea9')
    t.same(encodePop(MAXTEXT).length, 256)
    t.equal(encodePop(MAXTEXT)[0], 0xff)
    t.same(encodePop(Buffer.of(0x31, 0x2c)), Buffer.of(2, 0x31, 0x2c), 'a Buffer is sent as is')
    for (const text of [P2, T1, CN, MAXTEXT, 'H=', '1,中']) {
      const runs = feedAll(encodePop(text), decodeWith())
      t.same(firstMismatch(runs, expected([ev.pop(text)])) ?? null, null, `round trip ${text.slice(0, 20)}…`)
    }
  })

  t.test('pop length limits', async (t) => {
    t.throws(() => encodePop(''), new RangeError('pop text is 0 bytes in GBK; an LQ-Connect frame holds 1..255'))
    t.throws(() => encodePop('x'.repeat(256)), { name: 'RangeError', message: /256 bytes/ })
    t.throws(() => encodePop('中'.repeat(128)), { name: 'RangeError', message: /256 bytes/ }, 'counts GBK bytes, not characters')
    t.throws(() => encodePop(Buffer.alloc(0)), RangeError)
    t.throws(() => encodePop(Buffer.alloc(256, 0x41)), RangeError)
    t.equal(encodePop('中'.repeat(127) + 'x').length, 256, '255 bytes is fine')
    t.equal(MAX_POP_BYTES, 255)
    t.equal(MAX_BUFFERED, 255)
  })

  t.test('registration', async (t) => {
    const base = { template: 'oper={oper},ch={ch};', oper: '801', ch: '-1' }
    t.same(encodeRegistration({ ...base, framing: 'length' }), cat(Buffer.of(15), ascii('oper=801,ch=-1;')))
    t.same(encodeRegistration({ ...base, framing: 'raw' }), ascii('oper=801,ch=-1;'))
    t.same(encodeRegistration({ template: '{oper}/{oper} {ch}', framing: 'raw', oper: 'a', ch: '2' }), ascii('a/a 2'), 'every occurrence')
    t.same(encodeRegistration({ template: '{oper};{ch}', framing: 'raw', oper: '$&{ch}', ch: '$1' }), ascii('$&{ch};$1'), 'values are inserted literally, in one pass')
    t.same(encodeRegistration({ template: '工号={oper}', framing: 'length', oper: '张三', ch: '' }), cat(Buffer.of(9), iconv.encode('工号=张三', 'gbk')))
    t.throws(() => encodeRegistration({ template: '{oper}', framing: 'length', oper: '', ch: '' }), { name: 'RangeError', message: /0 bytes/ })
    t.throws(() => encodeRegistration({ template: '{oper}', framing: 'raw', oper: 'x'.repeat(300), ch: '' }), { name: 'RangeError', message: /300 bytes/ })
    // round trip through the server-side decoder, as daemon/lq-server.ts configures it
    const wire = cat(encodeTryRep(), encodeRegistration({ ...base, framing: 'length' }), encodeTryRep())
    const runs = feedAll(wire, decodeWith({ handshake: 'TRY_REP', plausible: printable }))
    t.same(firstMismatch(runs, expected([ev.hs('TRY_REP'), ev.pop('oper=801,ch=-1;'), ev.hs('TRY_REP')])) ?? null, null)
  })
})

t.test('splits() helper', async (t) => {
  const names = [...splits(ascii('abcd'))].map((s) => `${s.name}:${s.chunks.map((c) => c.toString()).join('|')}`)
  t.same(names, ['whole:abcd', 'byte by byte:a|b|c|d', 'split at 1:a|bcd', 'split at 2:ab|cd', 'split at 3:abc|d'])
  t.same([...splits(ascii('a'))].length, 1)
  t.same([...splits(Buffer.alloc(0))].length, 1)
})

t.test('a stripped terminator is in the frame as trailer; none, no trailer', async (t) => {
  const d = new LqConnectDecoder()
  const frames: Frame[] = []
  d.write(
    cat(framed(ascii('H=a;\r\n')), framed(ascii('H=b;\0')), framed(ascii('H=c;'))),
    (f) => frames.push(f),
    () => t.fail('no skips'),
  )
  t.strictSame(
    frames.map((f) => (f.type === 'pop' ? [f.payload.toString('latin1'), f.trailer?.toString('hex') ?? null] : f.type)),
    [
      ['H=a;', '0d0a'],
      ['H=b;', '00'],
      ['H=c;', null],
    ],
  )
  t.notOk('trailer' in frames[2]!, 'no trailer key without a terminator')
})
