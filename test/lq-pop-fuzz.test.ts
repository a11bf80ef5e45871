/**
 * 100,000 random and mutated pops (strings and GBK buffers, seeded): tryParsePop never throws,
 * parsePop throws nothing but PopError, and what comes out always keeps the Pop invariants.
 */
import t from 'tap'
import iconv from 'iconv-lite'
import { PopError, decodePop, formatPop, parsePop, tryParsePop, type Pop, type PopFormat } from '../protocols/lq-pop/index.js'
import { prng } from '../protocols/testing/chunks.js'

const SEED = 0x10c9_09
const ROUNDS = 100_000

const SEEDS = [
  '2,02586307627,1000,1208674344953,NA',
  'H=t1v2,ch=2,ph=86307627,id=12157703713752,tm=080711175931,dm=0;',
  'H=t1v3,ch=2,ph=86307627,id=12157703713752,tm=080711175931,op=801,sn=1234,dm=0;',
  'H=t1v4,ch=2,ph=86307627,ty=1,tm=080711175931,op=801,sn=1234,so=802,dm=0;',
  'H=t1v4,ch=2,ph=86307627,ty=1,tm=080711175931,op=801,sn=1234,so=802,da=0,dm=0;',
  'H=t1v5,ch=2,ph=86307627,.....da= meb_id:2222|ord_id:3333|score:4444,…..',
  'H=t2,v=VO_VAL_PWD2,r=0,ph=02586307627,pa=333333,da=xxxxxx;',
  'H=t1v5,ch=12,ph=13912345678,ty=5,tm=240101083000,op=801,sn=99,so=802,mb=M2222,da=城市:南京|客户:王先生,dm=1;2;',
]
const ZONES = ['Asia/Shanghai', 'America/New_York', 'Europe/Berlin', 'UTC', 'Australia/Lord_Howe', 'Not/AZone']
const FORMATS: PopFormat[] = ['t1v1', 't1v2', 't1v3', 't1v4', 't1v5', 't2']
const KEYS = ['H', 'ch', 'ph', 'id', 'tm', 'op', 'sn', 'ty', 'so', 'mb', 'da', 'dm', 'v', 'r', 'pa', 'xx', '', ' ch', '.....da', '__proto__', 'constructor']
const VALUES = [
  '',
  '0',
  '1',
  '-1',
  '2',
  '5',
  '6',
  '9',
  '10',
  't1v2',
  't1v5',
  't2',
  't9',
  'NA',
  '1;2;',
  ';',
  '080711175931',
  '241103013000',
  '240310023000',
  '991231235959',
  '081311175931',
  '城市:南京|a',
  ' meb_id:2222',
  '1208674344953',
  '99999999999999999999',
  'x=y',
  '…',
  '\0',
  '\r\n',
  ' ',
  '\uFFFD',
]
const ALPHABET = 'H=t1v2345,;:|.-_ 0123456789chpidmopsnytobarNA城市…\0\r\n\uFFFD'

const KINDS = new Set([null, 'inbound', 'manual-outbound', 'inbound-three-way', 'auto-outbound', 'inbound-transfer', 'outbound-transfer', 'outbound-three-way', 'test', 'undefined'])
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?[+-]\d\d:\d\d$/

/** what must hold for every pop the parser hands out; returns the first broken rule or null */
function broken(p: Pop, raw: string): string | null {
  if (!FORMATS.includes(p.format)) return `format ${p.format}`
  if (p.raw !== raw) return 'raw'
  if (p.channel !== null && !(Number.isSafeInteger(p.channel) && p.channel >= 0)) return `channel ${p.channel}`
  if (p.time !== null && !(ISO.test(p.time) && Number.isFinite(Date.parse(p.time)))) return `time ${p.time}`
  if (!Array.isArray(p.dtmf) || p.dtmf.some((k) => typeof k !== 'string' || k === '' || k.includes(';'))) return 'dtmf'
  if (!KINDS.has(p.kind)) return `kind ${p.kind}`
  if (p.kindCode !== null && !Number.isSafeInteger(p.kindCode)) return 'kindCode'
  if (p.direction !== null && p.direction !== 'inbound' && p.direction !== 'outbound') return 'direction'
  if (p.originAgent !== null && p.kindCode !== 5 && p.kindCode !== 6) return 'originAgent without ty 5/6'
  if (p.format === 't2' ? p.ivr === undefined : 'ivr' in p) return 'ivr'
  if (p.ivr && p.ivr.result !== null && !Number.isSafeInteger(p.ivr.result)) return 'ivr.result'
  if (Object.getPrototypeOf(p.extra) !== Object.prototype) return 'extra prototype'
  if (p.data !== null && Object.getPrototypeOf(p.data) !== Object.prototype) return 'data prototype'
  for (const v of [...Object.values(p.extra), ...Object.values(p.data ?? {})]) if (typeof v !== 'string') return 'non-string value'
  return null
}

t.test(`${ROUNDS.toLocaleString('en')} random and mutated pops`, async (t) => {
  const rnd = prng(SEED)
  const int = (n: number): number => Math.floor(rnd() * n)
  const pick = <T>(a: readonly T[]): T => a[int(a.length)]!

  const randomText = (): string => {
    let s = ''
    const n = int(120)
    for (let i = 0; i < n; i++) s += ALPHABET[int(ALPHABET.length)]
    return s
  }
  const kvText = (): string => {
    const segs: string[] = []
    if (rnd() < 0.8) segs.push('H=' + pick(['t1v2', 't1v3', 't1v4', 't1v5', 't2', 'T1V9', 't2v1', 'tx', '']))
    const n = int(12)
    for (let i = 0; i < n; i++) segs.push(rnd() < 0.1 ? pick(['.....', '…..', 'junk', '']) : pick(KEYS) + '=' + pick(VALUES))
    return segs.join(',') + (rnd() < 0.7 ? ',dm=' + pick(VALUES) : '') + (rnd() < 0.5 ? ';' : '')
  }
  const formatted = (): string => {
    const v = pick(FORMATS)
    try {
      return formatPop(
        {
          channel: int(1000),
          phone: String(int(1e9)),
          time: Date.UTC(2000, 0, 2) + int(3e12),
          timeZone: pick(ZONES.slice(0, 5)),
          agent: String(800 + int(50)),
          serial: String(int(1e6)),
          kindCode: int(11),
          originAgent: '801',
          member: rnd() < 0.5 ? null : 'M' + int(100),
          data: { 城市: '南京', k: String(int(10)) },
          dtmf: rnd() < 0.5 ? [] : ['1', '#'],
          ivr: { voId: 'VO', result: int(3) - 1, param: 'p' },
        },
        v,
      )
    } catch {
      return 'formatPop refused'
    }
  }
  const mutate = (s: string): string => {
    const ops = 1 + int(4)
    for (let i = 0; i < ops; i++) {
      const at = int(s.length + 1)
      switch (int(7)) {
        case 0: // delete a run
          s = s.slice(0, at) + s.slice(at + 1 + int(5))
          break
        case 1: // insert a char
          s = s.slice(0, at) + ALPHABET[int(ALPHABET.length)] + s.slice(at)
          break
        case 2: // replace a char
          s = s.slice(0, at) + ALPHABET[int(ALPHABET.length)] + s.slice(at + 1)
          break
        case 3: // truncate
          s = s.slice(0, at)
          break
        case 4: // duplicate a segment
          s = s.slice(0, at) + ',' + pick(KEYS) + '=' + pick(VALUES) + s.slice(at)
          break
        case 5: // swap two halves
          s = s.slice(at) + s.slice(0, at)
          break
        default: // whitespace / NULs around
          s = pick(['', ' ', '\0', '\r\n']) + s + pick(['', ' ', '\0\0', '\r\n'])
      }
    }
    return s
  }
  const mutateBytes = (b: Buffer): Buffer => {
    const out = Buffer.from(b)
    const n = 1 + int(4)
    for (let i = 0; i < n && out.length > 0; i++) out[int(out.length)] = int(256)
    return rnd() < 0.3 ? out.subarray(0, int(out.length + 1)) : out
  }

  let ok = 0
  let errors = 0
  let buffers = 0
  const codes = new Map<string, number>()
  const failures: string[] = []
  const fail = (msg: string): void => {
    if (failures.length < 10) failures.push(msg)
  }

  for (let i = 0; i < ROUNDS; i++) {
    // build one input
    let input: string | Buffer
    const kind = int(10)
    if (kind === 0) input = randomText()
    else if (kind <= 2) input = kvText()
    else if (kind <= 5) input = mutate(pick(SEEDS))
    else if (kind === 6) input = mutate(formatted())
    else if (kind === 7) {
      const len = int(80)
      input = Buffer.alloc(len)
      for (let j = 0; j < len; j++) input[j] = int(256)
    } else input = mutateBytes(iconv.encode(rnd() < 0.5 ? pick(SEEDS) : kvText(), 'gbk'))
    if (typeof input === 'string' && rnd() < 0.3) input = iconv.encode(input, 'gbk')
    if (typeof input !== 'string') buffers++
    const opts = rnd() < 0.1 ? undefined : { timeZone: pick(ZONES) }
    const raw = typeof input === 'string' ? input : decodePop(input)
    if (typeof input !== 'string' && raw !== iconv.decode(input, 'gbk')) fail(`decodePop differs from iconv-lite on ${input.toString('hex')}`)

    // tryParsePop never throws
    let r: ReturnType<typeof tryParsePop>
    try {
      r = tryParsePop(input, opts)
    } catch (e) {
      fail(`tryParsePop threw ${String(e)} on ${JSON.stringify(raw)}`)
      continue
    }
    if (r.ok) {
      ok++
      const why = broken(r.pop, raw)
      if (why) fail(`${why}: ${JSON.stringify(raw)}`)
    } else {
      errors++
      codes.set(r.error.code, (codes.get(r.error.code) ?? 0) + 1)
      if (!(r.error instanceof PopError) || r.error.raw !== raw || r.error.message === '') fail(`bad error for ${JSON.stringify(raw)}`)
    }

    // parsePop throws only PopError, and agrees with tryParsePop (every 4th input, to keep it quick)
    if (i % 4 === 0) {
      try {
        const p = parsePop(input, opts)
        if (!r.ok || p.raw !== r.pop.raw || p.format !== r.pop.format) fail(`parsePop/tryParsePop disagree on ${JSON.stringify(raw)}`)
      } catch (e) {
        if (!(e instanceof PopError)) fail(`parsePop threw ${String(e)} on ${JSON.stringify(raw)}`)
        else if (r.ok || e.code !== r.error.code) fail(`parsePop/tryParsePop disagree on ${JSON.stringify(raw)}`)
      }
    }
  }
  t.strictSame(failures, [], 'no rule broken')
  t.equal(ok + errors + failures.length >= ROUNDS, true, `${ok} parsed, ${errors} refused, ${buffers} as buffers`)
  t.ok(ok > ROUNDS / 10, 'a fair share of the inputs are pops')
  t.ok(errors > ROUNDS / 10, 'and a fair share are not')
  t.comment(`error codes: ${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}`)
})
