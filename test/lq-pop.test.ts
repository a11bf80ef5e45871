import t, { type Test } from 'tap'
import iconv from 'iconv-lite'
import {
  FRAGMENTS_KEY,
  PopError,
  decodePop,
  encodePop,
  formatLqTime,
  formatOffset,
  formatPop,
  hostTimeZone,
  isoInZone,
  isValidTimeZone,
  localOffset,
  lqTimeToIso,
  offsetAt,
  parseDtmf,
  parsePop,
  parsePopData,
  parsePopDataPairs,
  popKindName,
  tryParsePop,
  type Pop,
  type PopErrorCode,
  type PopFields,
  type PopFormat,
} from '../protocols/lq-pop/index.js'
import { feedAll, firstMismatch, prng, randomChunks, splits } from '../protocols/testing/chunks.js'

const SH = { timeZone: 'Asia/Shanghai' }

/** every field at its "absent" value; fixtures override what the pop carries */
function pop(p: Partial<Pop> & Pick<Pop, 'format' | 'raw'>): Pop {
  return {
    tag: null,
    channel: null,
    phone: null,
    callId: null,
    time: null,
    agent: null,
    serial: null,
    kindCode: null,
    kind: null,
    direction: null,
    originAgent: null,
    member: null,
    data: null,
    daRaw: null,
    dataPairs: null,
    dtmf: [],
    extra: {},
    ...p,
  }
}

interface Fixture {
  name: string
  text: string
  expected: Pop
}

// ---- every pop string in the vendor's documents ------------------------------------------------
const VENDOR: Fixture[] = [
  {
    // seed 002 ch.5 (LClientRcv, LClientRcvStr, LClientRcvDemo) and ch.8; seed 000 playSelected
    name: 'seed 002 t1v1 (ch.5, ch.8)',
    text: '2,02586307627,1000,1208674344953,NA',
    expected: pop({
      format: 't1v1',
      channel: 2,
      phone: '02586307627',
      callId: '12086743449532',
      time: '2008-04-20T14:52:24.953+08:00',
      direction: 'inbound',
      extra: { reserved: '1000' },
      raw: '2,02586307627,1000,1208674344953,NA',
    }),
  },
  {
    // seed 002 ch.5 (LClientRcvStr), ch.6 (OCX dataRcv), ch.8
    name: 'seed 002 t1v2',
    text: 'H=t1v2,ch=2,ph=86307627,id=12157703713752,tm=080711175931,dm=0;',
    expected: pop({
      format: 't1v2',
      tag: 't1v2',
      channel: 2,
      phone: '86307627',
      callId: '12157703713752',
      time: '2008-07-11T17:59:31+08:00',
      direction: 'inbound',
      raw: 'H=t1v2,ch=2,ph=86307627,id=12157703713752,tm=080711175931,dm=0;',
    }),
  },
  {
    name: 'seed 002 t1v3',
    text: 'H=t1v3,ch=2,ph=86307627,id=12157703713752,tm=080711175931,op=801,sn=1234,dm=0;',
    expected: pop({
      format: 't1v3',
      tag: 't1v3',
      channel: 2,
      phone: '86307627',
      callId: '12157703713752',
      time: '2008-07-11T17:59:31+08:00',
      agent: '801',
      serial: '1234',
      direction: 'inbound',
      raw: 'H=t1v3,ch=2,ph=86307627,id=12157703713752,tm=080711175931,op=801,sn=1234,dm=0;',
    }),
  },
  {
    name: 'seed 002 t1v4 (so=802 with ty=1: no origin agent)',
    text: 'H=t1v4,ch=2,ph=86307627,ty=1,tm=080711175931,op=801,sn=1234,so=802,dm=0;',
    expected: pop({
      format: 't1v4',
      tag: 't1v4',
      channel: 2,
      phone: '86307627',
      callId: '1234',
      time: '2008-07-11T17:59:31+08:00',
      agent: '801',
      serial: '1234',
      kindCode: 1,
      kind: 'inbound',
      direction: 'inbound',
      raw: 'H=t1v4,ch=2,ph=86307627,ty=1,tm=080711175931,op=801,sn=1234,so=802,dm=0;',
    }),
  },
  {
    name: 'seed 002 t1v5 example, tagged H=t1v4 by the vendor',
    text: 'H=t1v4,ch=2,ph=86307627,ty=1,tm=080711175931,op=801,sn=1234,so=802,da=0,dm=0;',
    expected: pop({
      format: 't1v5',
      tag: 't1v4',
      channel: 2,
      phone: '86307627',
      callId: '1234',
      time: '2008-07-11T17:59:31+08:00',
      agent: '801',
      serial: '1234',
      kindCode: 1,
      kind: 'inbound',
      direction: 'inbound',
      data: {},
      daRaw: '0',
      dataPairs: [],
      raw: 'H=t1v4,ch=2,ph=86307627,ty=1,tm=080711175931,op=801,sn=1234,so=802,da=0,dm=0;',
    }),
  },
  {
    name: 'seed 002 t1v5 da example with the vendor ellipses',
    text: 'H=t1v5,ch=2,ph=86307627,.....da= meb_id:2222|ord_id:3333|score:4444,…..',
    expected: pop({
      format: 't1v5',
      tag: 't1v5',
      channel: 2,
      phone: '86307627',
      data: { meb_id: '2222', ord_id: '3333', score: '4444' },
      daRaw: ' meb_id:2222|ord_id:3333|score:4444',
      dataPairs: [
        ['meb_id', '2222'],
        ['ord_id', '3333'],
        ['score', '4444'],
      ],
      extra: { [FRAGMENTS_KEY]: '.....,…..' },
      raw: 'H=t1v5,ch=2,ph=86307627,.....da= meb_id:2222|ord_id:3333|score:4444,…..',
    }),
  },
  {
    // seed 000, last section: popCRURL gets v,r,ph,pa,da; mode 2 gets a string starting "H=t2"
    name: 'seed 000 E-IVR result (t2)',
    text: 'H=t2,v=VO_VAL_PWD2,r=0,ph=02586307627,pa=333333,da=xxxxxx;',
    expected: pop({
      format: 't2',
      tag: 't2',
      phone: '02586307627',
      data: { xxxxxx: '' },
      daRaw: 'xxxxxx',
      dataPairs: [['', 'xxxxxx']],
      ivr: { voId: 'VO_VAL_PWD2', result: 0, param: '333333' },
      raw: 'H=t2,v=VO_VAL_PWD2,r=0,ph=02586307627,pa=333333,da=xxxxxx;',
    }),
  },
]

// ---- our own, for what the vendor examples do not exercise ---------------------------------------
const OURS: Fixture[] = [
  {
    name: 't1v5 with Chinese da, transfer, member, two keys',
    text: 'H=t1v5,ch=12,ph=13912345678,ty=5,tm=240101083000,op=801,sn=99,so=802,mb=M2222,da=城市:南京|客户:王先生,dm=1;2;',
    expected: pop({
      format: 't1v5',
      tag: 't1v5',
      channel: 12,
      phone: '13912345678',
      callId: '99',
      time: '2024-01-01T08:30:00+08:00',
      agent: '801',
      serial: '99',
      kindCode: 5,
      kind: 'inbound-transfer',
      direction: 'inbound',
      originAgent: '802',
      member: 'M2222',
      data: { 城市: '南京', 客户: '王先生' },
      daRaw: '城市:南京|客户:王先生',
      dataPairs: [
        ['城市', '南京'],
        ['客户', '王先生'],
      ],
      dtmf: ['1', '2'],
      raw: 'H=t1v5,ch=12,ph=13912345678,ty=5,tm=240101083000,op=801,sn=99,so=802,mb=M2222,da=城市:南京|客户:王先生,dm=1;2;',
    }),
  },
  {
    name: 't1v4 outbound transfer, hidden number, unknown key',
    text: 'H=t1v4,ch=0,ph=,ty=6,tm=991231235959,op=803,sn=7,so=801,xq=新字段 a,dm=NA;',
    expected: pop({
      format: 't1v4',
      tag: 't1v4',
      channel: 0,
      callId: '7',
      time: '2099-12-31T23:59:59+08:00',
      agent: '803',
      serial: '7',
      kindCode: 6,
      kind: 'outbound-transfer',
      direction: 'outbound',
      originAgent: '801',
      extra: { xq: '新字段 a' },
      raw: 'H=t1v4,ch=0,ph=,ty=6,tm=991231235959,op=803,sn=7,so=801,xq=新字段 a,dm=NA;',
    }),
  },
  {
    name: 't1v1 with keys, trailing CR LF NUL',
    text: '7,13800000000,0,1700000000000,1;2;#;\r\n\0',
    expected: pop({
      format: 't1v1',
      channel: 7,
      phone: '13800000000',
      callId: '17000000000007',
      time: '2023-11-15T06:13:20.000+08:00',
      direction: 'inbound',
      dtmf: ['1', '2', '#'],
      extra: { reserved: '0' },
      raw: '7,13800000000,0,1700000000000,1;2;#;\r\n\0',
    }),
  },
]

const ALL = [...VENDOR, ...OURS]

t.test('every vendor example parses to the full expected Pop', async (t) => {
  for (const f of ALL) t.strictSame(parsePop(f.text, SH), f.expected, f.name)
})

t.test('tryParsePop gives the same pop without throwing', async (t) => {
  for (const f of ALL) t.strictSame(tryParsePop(f.text, SH), { ok: true, pop: f.expected }, f.name)
})

t.test('GBK buffers: whole, Uint8Array, and every chunking', async (t) => {
  for (const f of ALL) {
    const buf = iconv.encode(f.text, 'gbk')
    t.strictSame(parsePop(buf, SH), f.expected, `${f.name}: Buffer`)
    t.strictSame(parsePop(new Uint8Array(buf), SH), f.expected, `${f.name}: Uint8Array`)
    t.strictSame(parsePop(encodePop(f.text), SH), f.expected, `${f.name}: encodePop`)
    // concatenating the chunks of any split and parsing gives the same pop
    const concat = feedAll(buf, (chunks) => parsePop(Buffer.concat(chunks), SH))
    t.equal(concat.length, buf.length + 1, `${f.name}: whole + byte-by-byte + ${buf.length - 1} two-way splits`)
    t.same(firstMismatch(concat, f.expected) ?? null, null, `${f.name}: concatenated chunks`)
    // and a streaming GBK decoder fed the chunks (a double-byte char split across chunks) agrees
    const streamed = feedAll(buf, (chunks) => {
      const dec = iconv.getDecoder('gbk')
      return parsePop(chunks.map((c) => dec.write(c)).join('') + (dec.end() ?? ''), SH)
    })
    t.same(firstMismatch(streamed, f.expected) ?? null, null, `${f.name}: streaming decoder`)
    const rnd = prng(buf.length)
    const random = Array.from({ length: 20 }, (_, i) => ({ name: `random ${i}`, result: parsePop(Buffer.concat(randomChunks(buf, rnd, 5)), SH) }))
    t.same(firstMismatch(random, f.expected) ?? null, null, `${f.name}: 20 random chunkings`)
  }
})

t.test('Chinese da values survive GBK', async (t) => {
  const text = 'H=t1v5,ch=1,ph=02586307627,ty=1,tm=080711175931,op=801,sn=1,so=0,mb=0,da=城市:南京|省:江苏|会员等级:金卡,dm=0;'
  const buf = encodePop(text)
  t.ok(buf.length < Buffer.byteLength(text), 'GBK is 2 bytes a hanzi, not 3')
  const p = parsePop(buf, SH)
  t.strictSame(p.data, { 城市: '南京', 省: '江苏', 会员等级: '金卡' })
  t.equal(p.raw, text)
  for (const s of splits(buf)) t.strictSame(parsePop(Buffer.concat(s.chunks), SH).data, p.data, s.name)
})

t.test('invalid GBK bytes become U+FFFD and the pop is still delivered', async (t) => {
  const buf = Buffer.concat([Buffer.from('H=t1v5,ch=3,ph=0258,da=city:', 'latin1'), Buffer.of(0x81), Buffer.from(',dm=1;', 'latin1')])
  const p = parsePop(buf, SH)
  t.equal(p.channel, 3)
  t.equal(p.phone, '0258')
  t.strictSame(p.data, { city: '\uFFFD' })
  t.strictSame(p.dtmf, ['1'])
  t.equal(p.raw, 'H=t1v5,ch=3,ph=0258,da=city:\uFFFD,dm=1;')
  // a lone lead byte at the very end
  const q = parsePop(Buffer.concat([Buffer.from('2,1390,1000,1208674344953,NA', 'latin1'), Buffer.of(0xfe)]), SH)
  t.equal(q.channel, 2)
  t.strictSame(q.dtmf, ['NA\uFFFD'], 'the trailing garbage stays visible in dtmf')
  t.equal(decodePop(Buffer.of(0xb3, 0xc7)), '城')
  t.equal(decodePop(Buffer.from('abc')), 'abc')
})

t.test('decodePop is iconv-lite GBK, byte for byte', async (t) => {
  let bad = 0
  let checked = 0
  const gbk = (b: Uint8Array): string => iconv.decode(Buffer.from(b), 'gbk')
  for (let lead = 0; lead < 256; lead++) {
    for (let trail = 0; trail < 256; trail++) {
      // every pair alone, inside ASCII, before a valid pair, and as a Uint8Array ending in a lone lead byte
      for (const b of [Buffer.of(lead, trail), Buffer.of(0x41, lead, trail, 0x2c), Buffer.of(lead, trail, 0xb3, 0xc7), new Uint8Array([0x31, lead, trail, 0xb3])]) {
        checked++
        if (decodePop(b) !== gbk(b)) bad++
      }
    }
  }
  t.equal(bad, 0, `${checked} buffers`)
  const big = encodePop('H=t1v5,ch=1,ph=1,da=' + '城市:南京|'.repeat(300) + ',dm=0;')
  t.ok(big.length > 1024)
  t.equal(decodePop(big), gbk(big), 'longer than the scratch buffer')
  t.equal(decodePop(new Uint8Array(big)), gbk(big))
  t.equal(decodePop(new Uint8Array([0x41, 0x80, 0x42])), 'A€B', '0x80 is the euro sign in iconv-lite GBK')
})

// ---- errors --------------------------------------------------------------------------------------
function expectError(t: Test, input: string | Buffer, code: PopErrorCode, field: string | undefined, msg: RegExp, opts = SH): void {
  const name = JSON.stringify(typeof input === 'string' ? input : input.toString('hex'))
  const raw = typeof input === 'string' ? input : decodePop(input)
  t.throws(() => parsePop(input, opts), PopError, name)
  const r = tryParsePop(input, opts)
  t.equal(r.ok, false, name)
  if (r.ok) return
  t.ok(r.error instanceof PopError && r.error instanceof Error, name)
  t.equal(r.error.name, 'PopError')
  t.equal(r.error.code, code, `${name} code`)
  t.equal(r.error.raw, raw, `${name} raw`)
  t.equal(r.error.field, field, `${name} field`)
  t.match(r.error.message, msg, `${name} message`)
}

t.test('errors: code, field, raw and a specific message', async (t) => {
  expectError(t, '', 'EMPTY', undefined, /^empty pop$/)
  expectError(t, ' \r\n\0\0', 'EMPTY', undefined, /only whitespace/)
  expectError(t, Buffer.alloc(0), 'EMPTY', undefined, /empty/)
  expectError(t, 'garbage', 'UNKNOWN_FORMAT', undefined, /neither H=/)
  expectError(t, 'hello, world', 'UNKNOWN_FORMAT', undefined, /neither H=/)
  expectError(t, '垃圾', 'UNKNOWN_FORMAT', undefined, /neither H=/)
  expectError(t, encodePop('垃圾'), 'UNKNOWN_FORMAT', undefined, /neither H=/)
  expectError(t, '-100', 'UNKNOWN_FORMAT', undefined, /LClientRcvStr status code/)
  expectError(t, 'foo=bar', 'UNKNOWN_FORMAT', undefined, /no H= tag and no ch=/)
  expectError(t, 'dm=5;', 'UNKNOWN_FORMAT', undefined, /no H= tag and no ch=/)
  expectError(t, 'H=t9,ch=2,ph=86307627,dm=0;', 'UNKNOWN_FORMAT', 'H', /unknown pop tag H="t9"/)
  expectError(t, 'H=t9v1,ch=2,ph=1,dm=0;', 'UNKNOWN_FORMAT', 'H', /t9v1/)
  expectError(t, 'H=,ch=2,ph=1,dm=0;', 'UNKNOWN_FORMAT', 'H', /H=""/)
  expectError(t, 'H=t1v2,ch=x,ph=86307627,dm=0;', 'BAD_CHANNEL', 'ch', /ch must be a non-negative integer, got "x"/)
  expectError(t, 'H=t1v2,ch=-1,ph=86307627,dm=0;', 'BAD_CHANNEL', 'ch', /got "-1"/)
  expectError(t, 'H=t1v2,ch=,ph=86307627,dm=0;', 'BAD_CHANNEL', 'ch', /got ""/)
  expectError(t, 'H=t1v2,ch=1.5,ph=86307627,dm=0;', 'BAD_CHANNEL', 'ch', /1\.5/)
  expectError(t, 'x,02586307627,1000,1208674344953,NA', 'BAD_CHANNEL', 'ch', /got "x"/)
  expectError(t, 'H=t1v2,ch=2,ph=1,tm=081311175931,dm=0;', 'BAD_FIELD', 'tm', /tm must be a valid local time YYMMDDHHMMSS, got "081311175931"/)
  expectError(t, 'H=t1v2,ch=2,ph=1,tm=08071117593a,dm=0;', 'BAD_FIELD', 'tm', /08071117593a/)
  expectError(t, 'H=t1v2,ch=2,ph=1,tm=0807111759,dm=0;', 'BAD_FIELD', 'tm', /0807111759/)
  expectError(t, 'H=t1v2,ch=2,ph=1,tm=0807111759311,dm=0;', 'BAD_FIELD', 'tm', /0807111759311/)
  expectError(t, 'H=t1v2,ch=2,ph=1,tm=080230120000,dm=0;', 'BAD_FIELD', 'tm', /080230/) // Feb 30
  expectError(t, 'H=t1v2,ch=2,ph=1,tm=090229120000,dm=0;', 'BAD_FIELD', 'tm', /090229/) // 2009 not leap
  expectError(t, 'H=t1v2,ch=2,ph=1,tm=080711240000,dm=0;', 'BAD_FIELD', 'tm', /080711240000/)
  expectError(t, 'H=t1v2,ch=2,ph=1,tm=080711236000,dm=0;', 'BAD_FIELD', 'tm', /080711236000/)
  expectError(t, 'H=t1v2,ch=2,ph=1,tm=080711235960,dm=0;', 'BAD_FIELD', 'tm', /080711235960/)
  expectError(t, 'H=t1v2,ch=2,ph=1,tm=080011000000,dm=0;', 'BAD_FIELD', 'tm', /080011/)
  expectError(t, 'H=t1v2,ch=2,ph=1,tm=080700000000,dm=0;', 'BAD_FIELD', 'tm', /080700/)
  expectError(t, 'H=t1v4,ch=2,ph=1,ty=x,dm=0;', 'BAD_FIELD', 'ty', /ty \(pop kind\) must be a number 1-9, got "x"/)
  expectError(t, 'H=t1v4,ch=2,ph=1,ty=-1,dm=0;', 'BAD_FIELD', 'ty', /"-1"/)
  expectError(t, 'H=t2,v=X,r=ok;', 'BAD_FIELD', 'r', /r \(E-IVR result\) must be an integer, got "ok"/)
  expectError(t, '2,0258,1000,12086743449x3,NA', 'BAD_FIELD', 'startTime', /startTime must be milliseconds/)
  expectError(t, '2,0258,1000,253402300800000,NA', 'BAD_FIELD', 'startTime', /before year 10000/)
  expectError(t, '2,0258,1000,,NA', 'BAD_FIELD', 'startTime', /got ""/)
  expectError(t, 'H=t1v2,ph=86307627,dm=0;', 'MISSING_FIELD', 'ch', /t1v2 pop has no ch=/)
  expectError(t, 'H=t1v3,ch=2,op=801,dm=0;', 'MISSING_FIELD', 'ph', /t1v3 pop has no ph=/)
  expectError(t, '2,02586307627', 'MISSING_FIELD', 'reserved', /got only 2 field/)
  expectError(t, '2,02586307627,1000', 'MISSING_FIELD', 'startTime', /got only 3 field/)
  expectError(t, VENDOR[1]!.text, 'BAD_TIME_ZONE', 'timeZone', /Mars\/Olympus/, { timeZone: 'Mars/Olympus' })
  expectError(t, VENDOR[0]!.text, 'BAD_TIME_ZONE', 'timeZone', /Mars\/Olympus/, { timeZone: 'Mars/Olympus' })
  // a pop that needs no time does not care about the zone
  t.equal(parsePop('H=t1v2,ch=2,ph=1,dm=0;', { timeZone: 'Mars/Olympus' }).channel, 2)
  // the raw text of a Buffer error is the decoded text, U+FFFD included
  expectError(t, Buffer.concat([Buffer.from('H=t1v2,ch=', 'latin1'), Buffer.of(0xb3, 0xc7, 0x81), Buffer.from(',ph=1;')]), 'BAD_CHANNEL', 'ch', /城\uFFFD/)
  // a very long bad value is cut in the message but whole in raw
  const long = 'H=t1v2,ch=' + 'x'.repeat(300) + ',ph=1;'
  const r = tryParsePop(long)
  t.ok(!r.ok && r.error.message.length < 120 && r.error.raw === long, 'long values are shortened in the message only')
})

// ---- fields --------------------------------------------------------------------------------------
t.test('format is detected from the fields, never from the tag', async (t) => {
  const fmt = (s: string): string => parsePop(s, SH).format
  t.equal(fmt('H=t1v2,ch=1,ph=1,dm=0;'), 't1v2')
  t.equal(fmt('H=t1v5,ch=1,ph=1,dm=0;'), 't1v2', 'a t1v5 tag without t1v5 fields')
  t.equal(fmt('H=t1v2,ch=1,ph=1,op=801,dm=0;'), 't1v3')
  t.equal(fmt('H=t1v2,ch=1,ph=1,sn=1,dm=0;'), 't1v3')
  t.equal(fmt('H=t1v2,ch=1,ph=1,ty=1,dm=0;'), 't1v4')
  t.equal(fmt('H=t1v2,ch=1,ph=1,so=0,dm=0;'), 't1v4')
  t.equal(fmt('H=t1v2,ch=1,ph=1,mb=0,dm=0;'), 't1v5')
  t.equal(fmt('H=t1v2,ch=1,ph=1,da=0,dm=0;'), 't1v5')
  t.equal(fmt('H=T1V9,ch=1,ph=1,dm=0;'), 't1v2', 'any t1v* tag, any case')
  t.equal(fmt('ch=1,ph=1,op=2,dm=0;'), 't1v3', 'no H= at all, but a ch=')
  t.equal(parsePop('ch=1,ph=1,dm=0;', SH).tag, null)
  t.equal(fmt('H=t2;'), 't2')
  t.equal(fmt('H=T2v1,v=x;'), 't2')
  t.equal(fmt('H=t2,ch=1,ph=1,mb=1,da=0;'), 't2', 't2 is the one format the tag decides')
})

t.test('dm runs to the end and may hold ;', async (t) => {
  const dm = (v: string): string[] => parsePop(`H=t1v2,ch=1,ph=1,dm=${v}`, SH).dtmf
  t.strictSame(dm('1;2;'), ['1', '2'])
  t.strictSame(dm('1;2'), ['1', '2'])
  t.strictSame(dm('0;'), [], 'the vendor default')
  t.strictSame(dm('0'), [])
  t.strictSame(dm('NA;'), [])
  t.strictSame(dm('NA'), [])
  t.strictSame(dm(''), [])
  t.strictSame(dm(';;'), [])
  t.strictSame(dm(' 0 ; '), [], 'a lone 0 with spaces')
  t.strictSame(dm(';NA;'), [])
  t.strictSame(dm('1;0;'), ['1', '0'], '0 among other keys is a key')
  t.strictSame(dm('*;#;9;'), ['*', '#', '9'])
  t.strictSame(dm(' 1 ; 2 ;'), ['1', '2'])
  t.strictSame(dm('12#;'), ['12#'], 'a token is kept whole')
  t.strictSame(dm('1,x=2;'), ['1,x=2'], 'everything after dm= is dtmf, even a comma')
  t.strictSame(parsePop('H=t1v2,ch=1,ph=1,tm=080711175931,dm=1;dm=2;', SH).dtmf, ['1', 'dm=2'])
  t.strictSame(parseDtmf('NA'), [])
  t.strictSame(parseDtmf('1;;2'), ['1', '2'])
  // without dm, one trailing ; comes off the last value
  t.equal(parsePop('H=t1v3,ch=1,ph=1,sn=42;', SH).serial, '42')
  t.equal(parsePop('H=t1v3,ch=1,ph=1,sn=42;;', SH).serial, '42;', 'only one')
  t.equal(parsePop('H=t1v3,ch=1,ph=1,sn=42', SH).serial, '42', 'no ; at all')
})

t.test('ty: kind, direction and origin agent', async (t) => {
  const names = [null, 'inbound', 'manual-outbound', 'inbound-three-way', 'auto-outbound', 'inbound-transfer', 'outbound-transfer', 'outbound-three-way', 'test', 'undefined', null]
  const dirs = [null, 'inbound', 'outbound', 'inbound', 'outbound', 'inbound', 'outbound', 'outbound', null, null, null]
  for (let ty = 0; ty <= 10; ty++) {
    const p = parsePop(`H=t1v4,ch=1,ph=1,ty=${ty},op=801,sn=1,so=802,dm=0;`, SH)
    t.equal(p.kindCode, ty, `ty=${ty} code`)
    t.equal(p.kind, names[ty], `ty=${ty} kind`)
    t.equal(p.direction, dirs[ty], `ty=${ty} direction`)
    t.equal(p.originAgent, ty === 5 || ty === 6 ? '802' : null, `ty=${ty} so`)
    t.equal(popKindName(ty), names[ty])
  }
  t.equal(parsePop('H=t1v4,ch=1,ph=1,ty=05,dm=0;', SH).kind, 'inbound-transfer', 'leading zero')
  t.equal(parsePop('H=t1v4,ch=1,ph=1,ty=5,so=0,dm=0;', SH).originAgent, null, 'so=0 is no agent')
  t.equal(parsePop('H=t1v4,ch=1,ph=1,ty=6,so=,dm=0;', SH).originAgent, null)
  t.equal(parsePop('H=t1v4,ch=1,ph=1,ty=6,dm=0;', SH).originAgent, null)
  // without ty: t1v1-t1v3 are inbound pops; a t1v4/t1v5 without ty has no known direction
  t.equal(parsePop('H=t1v3,ch=1,ph=1,op=1,dm=0;', SH).direction, 'inbound')
  t.equal(parsePop('H=t1v4,ch=1,ph=1,so=0,dm=0;', SH).direction, null)
  t.equal(parsePop('H=t1v4,ch=1,ph=1,ty=,so=0,dm=0;', SH).kindCode, null, 'empty ty is absent')
  t.equal(parsePop('H=t2,ty=1;', SH).direction, null, 't2 has no direction')
})

t.test('da: daRaw is the string as sent, dataPairs keeps order, repeats and colons in values (issue 11)', async (t) => {
  const p = parsePop('H=t1v5,ch=1,ph=1,da=a:1|a:2| t : 2008-01-01 12:00:00 |2008-01-01 12:00:00|xxxxxx||:v,dm=0;', SH)
  t.equal(p.daRaw, 'a:1|a:2| t : 2008-01-01 12:00:00 |2008-01-01 12:00:00|xxxxxx||:v')
  t.strictSame(p.dataPairs, [
    ['a', '1'],
    ['a', '2'],
    ['t', '2008-01-01 12:00:00'],
    ['', '2008-01-01 12:00:00'],
    ['', 'xxxxxx'],
    ['', 'v'],
  ])
  t.strictSame(p.data, { a: '2', t: '2008-01-01 12:00:00', '2008-01-01 12:00:00': '', xxxxxx: '', '': 'v' }, 'a value without a key is a key with an empty value in the object view')
  t.strictSame(parsePopDataPairs('0'), [])
  t.strictSame(parsePopDataPairs(' 0 '), [])
  t.strictSame(parsePopDataPairs('会员等级:金卡|城市:南京'), [
    ['会员等级', '金卡'],
    ['城市', '南京'],
  ])
  const d0 = parsePop('H=t1v5,ch=1,ph=1,da=0,dm=0;', SH)
  t.equal(d0.daRaw, '0')
  t.strictSame(d0.dataPairs, [])
  const none = parsePop('H=t1v3,ch=1,ph=1,op=8,dm=0;', SH)
  t.equal(none.daRaw, null)
  t.equal(none.dataPairs, null)
  t.equal(parsePop('2,02586307627,1000,1208674344953,NA', SH).dataPairs, null, 't1v1 has no da')
})

t.test('da, mb, ph, id, sn and the rest', async (t) => {
  t.strictSame(parsePopData('0'), {})
  t.strictSame(parsePopData(' 0 '), {})
  t.strictSame(parsePopData(''), {})
  t.strictSame(parsePopData('country:china|province:jiangsu|city:nanjing'), { country: 'china', province: 'jiangsu', city: 'nanjing' })
  t.strictSame(parsePopData(' a : b | c | d: |'), { a: 'b', c: '', d: '' })
  t.strictSame(parsePopData('url:http://x|k:v'), { url: 'http://x', k: 'v' }, 'split at the first :')
  t.strictSame(parsePopData('a:1|a:2'), { a: '2' }, 'last duplicate wins')
  t.strictSame(parsePopData(':x'), { '': 'x' })
  const proto = parsePopData('__proto__:x|b:1')
  t.ok(Object.hasOwn(proto, '__proto__') && proto['__proto__'] === 'x' && Object.getPrototypeOf(proto) === Object.prototype)
  t.equal(parsePop('H=t1v5,ch=1,ph=1,da=,dm=0;', SH).data?.constructor, Object, 'da= is {}')
  t.equal(parsePop('H=t1v5,ch=1,ph=1,mb=0,dm=0;', SH).member, null, 'mb=0 is the placeholder')
  t.equal(parsePop('H=t1v5,ch=1,ph=1,mb=00,dm=0;', SH).member, '00')
  t.equal(parsePop('H=t1v5,ch=1,ph=1,mb=,dm=0;', SH).member, null)
  t.equal(parsePop('H=t1v2,ch=1,ph=,dm=0;', SH).phone, null, 'hidden number')
  t.equal(parsePop('H=t1v2,ch=1,ph= 0258 ,dm=0;', SH).phone, '0258')
  t.equal(parsePop('H=t1v2,ch=1,ph=anonymous,dm=0;', SH).phone, 'anonymous', 'not validated')
  t.equal(parsePop('H=t1v2,ch=007,ph=1,dm=0;', SH).channel, 7)
  t.equal(parsePop('H=t1v3,ch=1,ph=1,id=,sn=5,dm=0;', SH).callId, '5', 'empty id falls back to sn')
  t.equal(parsePop('H=t1v3,ch=1,ph=1,id=9,sn=5,dm=0;', SH).callId, '9')
  t.equal(parsePop('H=t1v3,ch=1,ph=1,op=,dm=0;', SH).agent, null)
  t.equal(parsePop('H=t1v2,ch=1,ph=1,tm=,dm=0;', SH).time, null, 'empty tm is absent')
  t.equal(parsePop('H=t1v2,ch=1,ph=2,ch=3,dm=0;', SH).channel, 3, 'a repeated key: the last wins')
  // keys with spaces, unknown keys, t2 keys in a t1 pop, segments without =
  const p = parsePop('H=t1v3, ch = 4 ,ph=5,Foo=Bar ,x.y=1,v=2,r=3,pa=4,,=z,junk,sn=6,dm=0;', SH)
  t.equal(p.channel, 4)
  t.equal(p.serial, '6')
  t.strictSame(p.extra, { Foo: 'Bar ', 'x.y': '1', v: '2', r: '3', pa: '4', [FRAGMENTS_KEY]: '=z,junk' })
  t.strictSame(parsePop('H=t1v2,ch=1,ph=1,__proto__=x,dm=0;', SH).extra, Object.defineProperty({}, '__proto__', { value: 'x', enumerable: true, writable: true, configurable: true }))
  t.strictSame(parsePop('H=t1v2,ch=1,ph=1,…da=0,dm=0;', SH).extra, { [FRAGMENTS_KEY]: '…' })
  t.strictSame(parsePop('H=t1v2,junk1,ch=1, ,junk2,ph=1,...op=2,..= 3,dm=0;', SH).extra, { [FRAGMENTS_KEY]: 'junk1,junk2,...,..= 3' })
  t.strictSame(parsePop('H=t1v2,ch=1,ph=1, r =1, H =t1v3,dm=0;', SH).extra, { r: '1' }, 'spaced one-letter keys')
  t.equal(parsePop('H=t1v2,ch=1,ph=1, H =t2 ;', SH).format, 't2')
  t.strictSame(parsePop('H=t1v2,ch=1,ph=1,。。。=0,dm=0;', SH).extra, { [FRAGMENTS_KEY]: '。。。=0' })
})

t.test('t1v1 details', async (t) => {
  const p = parsePop('2,,1000,1208674344953', SH)
  t.equal(p.phone, null, 'empty phone')
  t.strictSame(p.dtmf, [], 'dtmf missing')
  t.strictSame(parsePop('2,1,x,1208674344953,NA,more,fields', SH).extra, { reserved: 'x', [FRAGMENTS_KEY]: 'more,fields' })
  t.strictSame(
    parsePop('2,1,,0,0', SH),
    pop({ format: 't1v1', channel: 2, phone: '1', callId: '02', time: '1970-01-01T08:00:00.000+08:00', direction: 'inbound', extra: { reserved: '' }, raw: '2,1,,0,0' }),
  )
  t.equal(parsePop(' 2 , 1 , r , 1208674344953 , 1;2; ', SH).callId, '12086743449532')
  t.equal(parsePop('2,1,1000,1208674344953,NA', { timeZone: 'UTC' }).time, '2008-04-20T06:52:24.953+00:00')
  t.equal(parsePop('2,1,1000,1208674344953,NA', { timeZone: 'America/New_York' }).time, '2008-04-20T02:52:24.953-04:00')
  t.equal(parsePop('2,1,1000,253402300799999,NA', { timeZone: 'UTC' }).time, '9999-12-31T23:59:59.999+00:00')
})

t.test('the default time zone is the host one', async (t) => {
  const tz = hostTimeZone()
  t.ok(isValidTimeZone(tz), tz)
  t.equal(parsePop(VENDOR[1]!.text).time, parsePop(VENDOR[1]!.text, { timeZone: tz }).time)
  t.equal(parsePop(VENDOR[0]!.text).time, isoInZone(1208674344953, tz))
  t.equal(parsePop(VENDOR[0]!.text, {}).time, isoInZone(1208674344953, tz))
})

// ---- time zones ----------------------------------------------------------------------------------
t.test('tm and startTime across DST', async (t) => {
  const ny = 'America/New_York'
  const be = 'Europe/Berlin'
  // New York 2024: 10 Mar 02:00 EST → 03:00 EDT; 3 Nov 02:00 EDT → 01:00 EST
  t.equal(lqTimeToIso('240310015959', ny), '2024-03-10T01:59:59-05:00')
  t.equal(lqTimeToIso('240310023000', ny), '2024-03-10T02:30:00-05:00', 'a skipped time keeps its digits and the pre-switch offset')
  t.equal(new Date(lqTimeToIso('240310023000', ny)!).toISOString(), '2024-03-10T07:30:00.000Z')
  t.equal(lqTimeToIso('240310030000', ny), '2024-03-10T03:00:00-04:00')
  t.equal(lqTimeToIso('241103005959', ny), '2024-11-03T00:59:59-04:00')
  t.equal(lqTimeToIso('241103013000', ny), '2024-11-03T01:30:00-04:00', 'a repeated time is the earlier one')
  t.equal(lqTimeToIso('241103015959', ny), '2024-11-03T01:59:59-04:00')
  t.equal(lqTimeToIso('241103020000', ny), '2024-11-03T02:00:00-05:00')
  t.equal(lqTimeToIso('240701120000', ny), '2024-07-01T12:00:00-04:00')
  t.equal(lqTimeToIso('240101120000', ny), '2024-01-01T12:00:00-05:00')
  t.equal(isoInZone(Date.UTC(2024, 2, 10, 6, 59, 59, 999), ny), '2024-03-10T01:59:59.999-05:00')
  t.equal(isoInZone(Date.UTC(2024, 2, 10, 7), ny), '2024-03-10T03:00:00.000-04:00')
  t.equal(isoInZone(Date.UTC(2024, 10, 3, 5, 30), ny), '2024-11-03T01:30:00.000-04:00')
  t.equal(isoInZone(Date.UTC(2024, 10, 3, 6, 30), ny), '2024-11-03T01:30:00.000-05:00')
  // Berlin 2024: 31 Mar 02:00 CET → 03:00 CEST (01:00Z); 27 Oct 03:00 CEST → 02:00 CET (01:00Z)
  t.equal(lqTimeToIso('240331015959', be), '2024-03-31T01:59:59+01:00')
  t.equal(lqTimeToIso('240331023000', be), '2024-03-31T02:30:00+01:00')
  t.equal(lqTimeToIso('240331030000', be), '2024-03-31T03:00:00+02:00')
  t.equal(lqTimeToIso('241027023000', be), '2024-10-27T02:30:00+02:00')
  t.equal(lqTimeToIso('241027030000', be), '2024-10-27T03:00:00+01:00')
  t.equal(isoInZone(Date.UTC(2024, 2, 31, 0, 59, 59, 999), be), '2024-03-31T01:59:59.999+01:00')
  t.equal(isoInZone(Date.UTC(2024, 2, 31, 1), be), '2024-03-31T03:00:00.000+02:00')
  t.equal(isoInZone(Date.UTC(2024, 9, 27, 0, 30), be), '2024-10-27T02:30:00.000+02:00')
  t.equal(isoInZone(Date.UTC(2024, 9, 27, 1, 30), be), '2024-10-27T02:30:00.000+01:00')
  // UTC and friends
  t.equal(lqTimeToIso('080711175931', 'UTC'), '2008-07-11T17:59:31+00:00')
  t.equal(lqTimeToIso('000229000000', 'UTC'), '2000-02-29T00:00:00+00:00', '2000 is a leap year')
  t.equal(lqTimeToIso('080711175931', 'Asia/Kolkata'), '2008-07-11T17:59:31+05:30')
  t.equal(isoInZone(0, 'UTC', false), '1970-01-01T00:00:00+00:00')
  t.equal(parsePop('H=t1v2,ch=1,ph=1,tm=240310023000,dm=0;', { timeZone: ny }).time, '2024-03-10T02:30:00-05:00')
  t.equal(parsePop('2,1,1000,' + Date.UTC(2024, 10, 3, 6, 30) + ',NA', { timeZone: ny }).time, '2024-11-03T01:30:00.000-05:00')
  t.equal(localOffset(Date.UTC(2024, 2, 10, 2, 30), ny), -5 * 3600_000)
  t.equal(offsetAt(Date.UTC(2024, 2, 10, 7), ny), -4 * 3600_000)
  t.equal(formatOffset(0), '+00:00')
  t.equal(formatOffset(-(3 * 3600 + 30 * 60) * 1000), '-03:30')
  t.equal(formatOffset((8 * 3600 + 5 * 60 + 43) * 1000), '+08:05:43')
  t.equal(isValidTimeZone('Nope/Zone'), false)
  t.equal(isValidTimeZone('Europe/Berlin'), true)
  t.equal(formatLqTime(new Date(1215770371375), 'Asia/Shanghai'), '080711175931')
  t.equal(formatLqTime(Date.UTC(2024, 10, 3, 6, 30), ny), '241103013000')
  t.throws(() => formatLqTime(Date.UTC(1999, 11, 31, 12), 'UTC'), RangeError)
  t.throws(() => offsetAt(0, 'Nope/Zone'), RangeError)
  // the last-minute memos: same minute, other zone / other precision / other seconds
  const m = Date.UTC(2024, 2, 10, 6, 59, 1, 5)
  t.equal(isoInZone(m, ny), '2024-03-10T01:59:01.005-05:00')
  t.equal(isoInZone(m + 58_000, ny, false), '2024-03-10T01:59:59-05:00')
  t.equal(isoInZone(m + 1000, be), '2024-03-10T07:59:02.005+01:00')
  t.equal(isoInZone(m + 59_000, ny), '2024-03-10T03:00:00.005-04:00', 'next minute, after the switch')
  t.equal(lqTimeToIso('240310015901', ny), '2024-03-10T01:59:01-05:00')
  t.equal(lqTimeToIso('240310015959', ny), '2024-03-10T01:59:59-05:00')
  t.equal(lqTimeToIso('240310015959', be), '2024-03-10T01:59:59+01:00')
  t.equal(lqTimeToIso('240310015960', be), null, 'validated before the memo')
  t.equal(lqTimeToIso('241103013000', ny), '2024-11-03T01:30:00-04:00')
  t.equal(lqTimeToIso('241103013059', ny), '2024-11-03T01:30:59-04:00')
  // a historical offset with seconds (Shanghai LMT) is exact, never memoised by minute
  t.equal(isoInZone(Date.UTC(1900, 0, 1, 3, 59, 30, 500), 'Asia/Shanghai'), '1900-01-01T12:05:13.500+08:05:43')
  t.equal(isoInZone(Date.UTC(1900, 0, 1, 3, 59, 31, 500), 'Asia/Shanghai'), '1900-01-01T12:05:14.500+08:05:43')
})

t.test('zone math agrees with Intl around every switch, with and without the cache', async (t) => {
  const zones = ['America/New_York', 'Europe/Berlin', 'UTC', 'Asia/Shanghai', 'Australia/Lord_Howe', 'America/St_Johns', 'Asia/Kolkata', 'Pacific/Chatham', 'America/Santiago']
  const HOUR = 3_600_000
  let checked = 0
  let switches = 0
  let bad = 0
  for (const zone of zones) {
    const intl = new Intl.DateTimeFormat('en-CA', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
    const wall = (ms: number): string => intl.format(ms).replace(/\D/g, '').slice(2)
    const off = (ms: number): number =>
      Date.UTC(
        ...((intl.format(ms).match(/\d+/g)!.map(Number) as [number, number, number, number, number, number]).map((v, i) => (i === 1 ? v - 1 : v)) as [number, number, number, number, number, number]),
      ) -
      (ms - (ms % 1000))
    const check = (ms: number): void => {
      const iso = isoInZone(ms, zone)
      const tm = formatLqTime(ms, zone)
      const back = lqTimeToIso(tm, zone)!
      checked++
      // instant → ISO keeps the instant and shows Intl's wall clock
      if (Date.parse(iso) !== ms || iso.replace(/\D/g, '').slice(2, 14) !== wall(ms) || tm !== wall(ms)) bad++
      // wall clock → ISO keeps the digits, and denotes this instant or (repeated hour) an earlier one
      const u = Date.parse(back)
      const floored = ms - (ms % 1000)
      if (back.replace(/\D/g, '').slice(2, 14) !== tm || u > floored || (u !== floored && formatLqTime(u, zone) !== tm)) bad++
    }
    // the switches of 2024, found hour by hour with Intl alone
    const around: number[] = []
    for (let h = Date.UTC(2024, 0, 1); h < Date.UTC(2025, 0, 1); h += HOUR) {
      if (off(h) !== off(h + HOUR)) around.push(h)
    }
    switches += around.length
    // twice (the second pass is served from the cache): every 7 minutes + 13 s for 3 hours either side of
    // each switch, and a sample of the whole year
    for (let pass = 0; pass < 2; pass++) {
      for (const h of around) for (let ms = h - 3 * HOUR; ms < h + 4 * HOUR; ms += 7 * 60_000 + 13_000) check(ms)
      for (let ms = Date.UTC(2024, 0, 1, 0, 0, 0, 123); ms < Date.UTC(2025, 0, 1); ms += 97 * 60_000) check(ms)
    }
  }
  t.equal(switches, 12, 'two switches a year in 6 of the 9 zones')
  t.equal(bad, 0, `${checked} instants checked`)
})

// ---- formatPop -----------------------------------------------------------------------------------
t.test('formatPop reproduces the vendor examples', async (t) => {
  const time = new Date(1215770371375) // 2008-07-11 17:59:31.375 +08:00
  const base: PopFields = { channel: 2, phone: '86307627', time, timeZone: 'Asia/Shanghai' }
  t.equal(formatPop({ channel: 2, phone: '02586307627', startTime: 1208674344953 }, 't1v1'), VENDOR[0]!.text)
  t.equal(formatPop(base, 't1v2'), VENDOR[1]!.text)
  t.equal(formatPop({ ...base, agent: '801', serial: '1234' }, 't1v3'), VENDOR[2]!.text)
  t.equal(formatPop({ ...base, kindCode: 1, agent: '801', serial: '1234', originAgent: '802' }, 't1v4'), VENDOR[3]!.text)
  t.equal(
    formatPop({ ...base, kindCode: 1, agent: '801', serial: '1234', originAgent: '802', tag: 't1v4' }, 't1v5'),
    'H=t1v4,ch=2,ph=86307627,ty=1,tm=080711175931,op=801,sn=1234,so=802,mb=0,da=0,dm=0;',
    'the vendor example plus mb=0 (the t1v5 field list has mb)',
  )
  t.equal(formatPop({ phone: '02586307627', data: { xxxxxx: '' }, ivr: { voId: 'VO_VAL_PWD2', result: 0, param: '333333' } }, 't2'), VENDOR[6]!.text)
  t.equal(formatPop({ channel: 2, phone: null, time: 1208674344953 }, 't1v1'), '2,,1000,1208674344953,NA')
  t.equal(formatPop({ channel: 2, dtmf: ['1', '2'], extra: { xx: 'y', [FRAGMENTS_KEY]: '...' } }, 't1v2'), 'H=t1v2,ch=2,ph=,xx=y,...,dm=1;2;')
  t.equal(formatPop({ channel: 3, time, timeZone: 'UTC', callId: 'abc' }, 't1v4'), 'H=t1v4,ch=3,ph=,id=abc,tm=080711095931,op=,sn=,so=0,dm=0;')
  t.equal(formatPop({ channel: 1, ivr: { result: -100 } }, 't2'), 'H=t2,ch=1,r=-100,ph=;')
  // the host zone by default
  t.equal(formatPop({ channel: 1, time }, 't1v2'), `H=t1v2,ch=1,ph=,id=12157703713751,tm=${formatLqTime(time, hostTimeZone())},dm=0;`)
})

t.test('formatPop refuses what the wire cannot carry', async (t) => {
  t.throws(() => formatPop({ phone: '1' }, 't1v2'), RangeError, 'no channel')
  t.throws(() => formatPop({ channel: -1 }, 't1v3'), RangeError)
  t.throws(() => formatPop({ channel: 1.5 }, 't1v1'), RangeError)
  t.throws(() => formatPop({ channel: 1 }, 't1v1'), /startTime/)
  t.throws(() => formatPop({ channel: 1, phone: '1,2' }, 't1v2'), /phone/)
  t.throws(() => formatPop({ channel: 1, agent: '8;01' }, 't1v3'), /op/)
  t.throws(() => formatPop({ channel: 1, data: { 'a:b': 'c' } }, 't1v5'), /da entry/)
  t.throws(() => formatPop({ channel: 1, data: { 'a:b': '' } }, 't1v5'), /da entry/, "a bare a:b would parse back as {a: 'b'}")
  // issue 11: a value without a key that holds a colon goes out bare and parses back the same
  const bare = formatPop({ phone: '1', data: { '2008-01-01 12:00:00': '', k: 'v' } }, 't2')
  t.match(bare, /,da=2008-01-01 12:00:00\|k:v;$/)
  t.strictSame(parsePop(bare, SH).dataPairs, [
    ['', '2008-01-01 12:00:00'],
    ['k', 'v'],
  ])
  t.throws(() => formatPop({ channel: 1, data: { a: 'b|c' } }, 't1v5'), /da entry/)
  t.throws(() => formatPop({ channel: 1, dtmf: ['1;'] }, 't1v2'), /dtmf/)
  t.throws(() => formatPop({ channel: 1, dtmf: [''] }, 't1v2'), /dtmf/)
  t.throws(() => formatPop({ channel: 1, extra: { 'a=b': 'c' } }, 't1v2'), /extra key/)
  t.throws(() => formatPop({ channel: 1, time: Date.UTC(2100, 0, 1) }, 't1v2'), /2000-2099/)
})

const VERSIONS: PopFormat[] = ['t1v1', 't1v2', 't1v3', 't1v4', 't1v5', 't2']

t.test('formatPop → parsePop round trip, one of each', async (t) => {
  const time = Date.UTC(2024, 4, 1, 12, 34, 56, 789)
  const fields: PopFields = {
    channel: 5,
    phone: '13900001111',
    time,
    timeZone: 'Europe/Berlin',
    agent: '805',
    serial: '4711',
    kindCode: 6,
    originAgent: '806',
    member: 'VIP9',
    data: { 城市: '南京', score: '88' },
    dtmf: ['1', '#'],
    ivr: { voId: 'VO_X', result: 1, param: 'p' },
  }
  const z = { timeZone: 'Europe/Berlin' }
  const expect: Record<PopFormat, Partial<Pop>> = {
    t1v1: {
      format: 't1v1',
      tag: null,
      channel: 5,
      phone: '13900001111',
      callId: `${time}5`,
      time: '2024-05-01T14:34:56.789+02:00',
      direction: 'inbound',
      dtmf: ['1', '#'],
      extra: { reserved: '1000' },
    },
    t1v2: { format: 't1v2', tag: 't1v2', channel: 5, phone: '13900001111', callId: `${time}5`, time: '2024-05-01T14:34:56+02:00', direction: 'inbound', dtmf: ['1', '#'] },
    t1v3: { format: 't1v3', agent: '805', serial: '4711', callId: `${time}5`, direction: 'inbound' },
    t1v4: { format: 't1v4', callId: '4711', kindCode: 6, kind: 'outbound-transfer', direction: 'outbound', originAgent: '806', member: null, data: null },
    t1v5: { format: 't1v5', callId: '4711', member: 'VIP9', data: { 城市: '南京', score: '88' }, dtmf: ['1', '#'], extra: {} },
    t2: { format: 't2', tag: 't2', channel: 5, phone: '13900001111', time: null, data: { 城市: '南京', score: '88' }, dtmf: [], ivr: { voId: 'VO_X', result: 1, param: 'p' } },
  }
  for (const v of VERSIONS) {
    const text = formatPop(fields, v)
    const p = parsePop(encodePop(text), z)
    t.match(p, expect[v], `${v}: ${text}`)
    t.equal(p.raw, text)
    if (v !== 't2') t.notOk('ivr' in p, `${v} has no ivr`)
  }
})

t.test('formatPop → parsePop round trip, random fields', async (t) => {
  const rnd = prng(20240501)
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!
  const zones = ['Asia/Shanghai', 'America/New_York', 'Europe/Berlin', 'UTC', 'Australia/Lord_Howe']
  const word = (): string => pick(['a', 'b7', '南京', '会员', 'x_y', '9', 'Zz', '城市'])
  let n = 0
  for (let i = 0; i < 3000; i++) {
    const v = VERSIONS[i % VERSIONS.length]!
    const timeZone = pick(zones)
    const time = Date.UTC(2000, 0, 2) + Math.floor(rnd() * 3.1e12)
    const data: Record<string, string> = {}
    const nd = Math.floor(rnd() * 4)
    for (let k = 0; k < nd; k++) data[word() + k] = rnd() < 0.2 ? '' : word()
    const kindCode = rnd() < 0.8 ? 1 + Math.floor(rnd() * 9) : null
    const f: PopFields = {
      channel: v === 't2' && rnd() < 0.5 ? null : Math.floor(rnd() * 300),
      phone: rnd() < 0.1 ? null : String(Math.floor(rnd() * 1e11)),
      time,
      timeZone,
      agent: rnd() < 0.2 ? null : String(800 + Math.floor(rnd() * 100)),
      serial: rnd() < 0.2 ? null : String(Math.floor(rnd() * 1e6)),
      kindCode,
      originAgent: rnd() < 0.5 ? String(800 + Math.floor(rnd() * 100)) : null,
      member: rnd() < 0.5 ? 'M' + Math.floor(rnd() * 1e4) : null,
      data: rnd() < 0.3 ? null : data,
      dtmf: rnd() < 0.4 ? [] : Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => pick(['1', '2', '9', '*', '#', '12'])),
      ivr: { voId: rnd() < 0.2 ? null : 'VO_' + word(), result: rnd() < 0.2 ? null : pick([0, 1, -1, -100, 42]), param: rnd() < 0.2 ? null : word() },
    }
    const text = formatPop(f, v)
    const p = parsePop(rnd() < 0.5 ? text : encodePop(text), { timeZone })
    const d = new Date(time)
    const expectedCallId = f.serial ?? null
    const want: Partial<Pop> = {
      format: v,
      channel: f.channel ?? null,
      phone: f.phone ?? null,
      raw: text,
    }
    if (v === 't1v1') {
      Object.assign(want, { time: isoInZone(time, timeZone), callId: `${time}${f.channel}`, dtmf: f.dtmf })
    } else if (v === 't2') {
      Object.assign(want, { time: null, data: f.data == null ? null : f.data, ivr: { voId: f.ivr!.voId, result: f.ivr!.result, param: f.ivr!.param } })
    } else {
      const iso = p.time
      Object.assign(want, { dtmf: f.dtmf })
      if (iso === null || Date.parse(iso) > time || formatLqTime(Date.parse(iso), timeZone) !== formatLqTime(d, timeZone)) {
        t.fail(`${v} time ${iso} for ${d.toISOString()} in ${timeZone}`)
      }
    }
    if (v === 't1v2' || v === 't1v3') want.callId = `${time}${f.channel}`
    if (v === 't1v3' || v === 't1v4' || v === 't1v5') Object.assign(want, { agent: f.agent, serial: f.serial })
    if (v === 't1v4' || v === 't1v5') {
      Object.assign(want, {
        callId: expectedCallId,
        kindCode,
        kind: kindCode === null ? null : popKindName(kindCode),
        originAgent: kindCode === 5 || kindCode === 6 ? f.originAgent : null,
      })
    }
    if (v === 't1v5') Object.assign(want, { member: f.member, data: f.data ?? {} })
    const got: Partial<Pop> = {}
    for (const k of Object.keys(want) as (keyof Pop)[]) (got as Record<string, unknown>)[k] = p[k]
    t.strictSame(got, want, `${i} ${text}`)
    n++
  }
  t.equal(n, 3000)
})

t.test('throughput sanity (printed, not asserted)', async (t) => {
  const pops = [...VENDOR.slice(0, 5), OURS[0]!].map((f) => f.text)
  const bufs = pops.map(encodePop)
  for (const [name, inputs] of [
    ['strings', pops],
    ['GBK buffers', bufs],
  ] as const) {
    const N = 200_000
    for (let i = 0; i < 20_000; i++) parsePop(inputs[i % inputs.length]!, SH)
    const c = process.cpuUsage()
    for (let i = 0; i < N; i++) parsePop(inputs[i % inputs.length]!, SH)
    const u = process.cpuUsage(c)
    t.comment(`parsePop ${name}: ${Math.round(N / ((u.user + u.system) / 1e6)).toLocaleString('en')} pops per CPU-second (under tap's coverage; bench/codec.ts measures for real)`)
  }
  t.pass()
})
