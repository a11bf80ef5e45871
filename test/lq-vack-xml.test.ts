import t from 'tap'
import iconv from 'iconv-lite'
import {
  answerEncoding,
  ChStatusReader,
  decodeAnswerText,
  decodeForm,
  decodeVackXml,
  encodeForm,
  lineDirection,
  lineState,
  parseChStatus,
  parseCustCall,
  parseLoc,
  parseOperStatus,
  parsePlaySelected,
  parseQueueStatus,
  percentBytes,
  VackXmlError,
  type ChStatus,
} from '../protocols/lq-vack/index.js'
import { prng } from '../protocols/testing/chunks.js'

/** The answer examples of seed 000, verbatim (curly quotes, `- ` and missing end tags included). */
const SEED = {
  getOperStatus:
    '<?xml version="1.0" encoding="gb2312" ?>\n<result generated="1216266428640" vo_id="getOperStatus">\n<result><operStatus>\n<ch>0</ch><inUseC>0</inUseC><statusC>0</statusC><phone>_NA_</phone><ifLoginC>1</ifLoginC><oper>801</oper><setBusyC>false</setBusyC>\n</operStatus>\n</result>',
  playSelectedOk:
    '<?xml version="1.0" encoding="gb2312" ?>\n- <result generated="1215767846687" vo_id="playSelected" error=""><playSelected><asxfile>http://192.168.0.10:12333/v/audio/1215767846671_796962434_-8845179132077319521.asx</asxfile></playSelected></result>',
  playSelectedError:
    ' <?xml version="1.0" encoding="gb2312" ?> \n\n- <result generated="1216215069890" vo_id="playSelected" error="呼叫流水id=12157674323753-1读取错!"> <playSelected><asxfile></asxfile ></playSelected></result>',
  getCustCall:
    '<?xml version="1.0" encoding="gb2312" ?>\n<result generated="1216266428640" vo_id="getCustCall" totalCnt=”1”  curPn=”1” >\n<result>\n\n<CustCall><id>23232342</id><sn>232323</sn><ch>0</ch><dir>0</dir><vt>0</vt><ph>02586307627</ph><dt>2008-01-01</dt><oper>801</oper><tms>13:00:00</tms><tme>13:00:00</tme><file>20080806_081555_8_013465226206.wav</file>\n</CustCall>\n<CustCall><id>23232344</id><sn>2323231</sn><ch>0</ch><dir>0</dir><vt>0</vt><ph>02586307627</ph><dt>2008-01-01</dt><oper>801</oper><tms>13:00:00</tms><tme>13:00:00</tme><file>20080806_081555_8_013465226206.wav</file>\n</CustCall>\n<CustCall><id>23232345</id><sn>2323232</sn><ch>0</ch><dir>0</dir><vt>0</vt><ph>02586307627</ph><dt>2008-01-01</dt><oper>801</oper><tms>13:00:00</tms><tme>13:00:00</tme><file>20080806_081555_8_013465226206.wav</file>\n</CustCall>\n</result>',
  getQueueStatus:
    '<?xml version="1.0" encoding="gb2312" ?>\n<result generated="1216266428640" vo_id="getQueueStatus" callautoSize=”10”  chWaitSize=”1”  calloutbSize=”1”>\n<queueStatus>\n<inUseC>0</inUseC>\n<type>外部呼入</type> \n\n<phone>86306392</phone> \n\n<ch>0</ch> \n\n<wt>oper</wt> \n\n<wv>801</wv> \n\n<startTime>17:24:23</startTime> \n\n<totalTime>2</totalTime> \n\n</queueStatus>\n</result>',
  getChStatus:
    '<?xml version="1.0" encoding="gb2312" ?>\n<result generated="1216266428640" vo_id="getChStatus" chCnt=”10”  agentChCnt=”1”  ichCnt  rchCnt=”10”>\n<chStatus>\n\n  <ch>2</ch> \n\n  <type>内线</type> \n\n  <inUse>手工呼出</inUse> \n\n  <status>摘机</status> \n\n  <step>等待坐席挂机</step> \n\n  <peerCh>-1</peerCh> \n\n  <phone>_NA_</phone> \n\n  <oper>801</oper> \n\n  <file>_NA_</file> \n\n  <startTime>17:24:04</startTime> \n\n  <endTime>_NA_</endTime> \n\n  <loginTime>_NA_</loginTime> \n\n  <idleTime>16:17:21</idleTime> \n\n  <listen>_NA_</listen> \n\n  <setBusy>_NA_</setBusy> \n\n </chStatus>\n\n <chStatus>\n\n  <ch>3</ch> \n\n  <type>内线</type> \n\n  <inUse>0</inUse> \n\n  <status>挂机</status> \n\n  <step>空闲</step> \n\n  <peerCh>-1</peerCh> \n\n  <phone>_NA_</phone> \n\n  <oper>_NA_</oper> \n\n  <file>_NA_</file> \n\n  <startTime>_NA_</startTime> \n\n  <endTime>_NA_</endTime> \n\n  <loginTime>_NA_</loginTime> \n\n  <idleTime>_NA_</idleTime> \n\n  <listen>_NA_</listen> \n\n  <setBusy>_NA_</setBusy> \n\n  </chStatus>',
  getLoc:
    '  <?xml version="1.0" encoding="gb2312" ?> \n\n  <result generated="1265255567192" vo_id="getLoc">\n\n  <loc>\n\n  <phone>13851498888</phone> \n\n  <location>200100</location> \n\n  <city>南京市</city> \n\n  <province>江苏省</province> \n\n  </loc>\n\n  </result>',
  success: '<?xml version="1.0" encoding="gb2312"?>\n<result generated="1210066494234" rcode="0" msg="执行成功">执行成功</result>',
  failure: '<?xml version="1.0" encoding="gb2312"?>\n<result generated="1210067291203" rcode="0" error="通道无效">分通道无效</result>',
}

const gbk = (s: string) => iconv.encode(s, 'gbk')
const doc = (k: keyof typeof SEED) => decodeVackXml(gbk(SEED[k]))

t.test('seed: success and failure envelopes', async (t) => {
  const ok = doc('success')
  t.match(ok, { voId: null, generated: '1210066494234', rcode: '0', msg: '执行成功', error: null, text: '执行成功', encoding: 'gbk' })
  const bad = doc('failure')
  t.match(bad, { generated: '1210067291203', rcode: '0', msg: null, error: '通道无效', text: '分通道无效' })
})

t.test('seed: getChStatus (curly quotes, a valueless attribute, no end tag)', async (t) => {
  const a = parseChStatus(doc('getChStatus'))
  t.same(a.counts, { external: 10, agent: 1, ip: null, recording: 10 })
  t.equal(a.skipped, 0)
  t.equal(a.generated, '1216266428640')
  const base: Omit<ChStatus, 'ch'> = {
    type: '内线',
    kind: 'agent',
    inUse: 0,
    inUseText: '0',
    status: 0,
    statusText: '挂机',
    step: '空闲',
    peerCh: null,
    phone: null,
    oper: null,
    file: null,
    recording: false,
    startTime: null,
    endTime: null,
    loginTime: null,
    idleTime: null,
    listened: false,
    busy: false,
  }
  t.same(a.channels, [
    { ...base, ch: 2, inUse: 2, inUseText: '手工呼出', status: 1, statusText: '摘机', step: '等待坐席挂机', oper: '801', startTime: '17:24:04', idleTime: '16:17:21' },
    { ...base, ch: 3 },
  ])
  // 摘机 + 手工呼出 + 等待坐席挂机: the call is over, the agent has not hung up yet: idle (issue 11 changed
  // this from talking); 挂机 unused: idle
  t.equal(lineState(a.channels[0]!), 'idle')
  t.equal(lineState({ ...a.channels[0]!, step: '通话中' }), 'talking')
  t.equal(lineDirection(a.channels[0]!.inUse), 'outbound')
  t.equal(lineState(a.channels[1]!), 'idle')
  t.equal(lineDirection(a.channels[1]!.inUse), null)
})

t.test('seed: getOperStatus (nested <result>)', async (t) => {
  t.same(parseOperStatus(doc('getOperStatus')), {
    agents: [{ oper: '801', ch: 0, inUse: 0, status: 0, phone: null, loggedIn: true, busy: false }],
    skipped: 0,
  })
})

t.test('seed: getQueueStatus', async (t) => {
  t.same(parseQueueStatus(doc('getQueueStatus')), {
    sizes: { callauto: 10, chWait: 1, calloutb: 1 },
    entries: [{ inUse: 0, type: '外部呼入', phone: '86306392', ch: 0, waitType: 'oper', waitValue: '801', startTime: '17:24:23', totalSeconds: 2 }],
    generated: '1216266428640',
  })
})

t.test('seed: getCustCall (one </result> for two openings)', async (t) => {
  const a = parseCustCall(doc('getCustCall'))
  t.equal(a.total, 1)
  t.equal(a.page, 1)
  t.same(
    a.calls.map((c) => [c.id, c.sn]),
    [
      ['23232342', '232323'],
      ['23232344', '2323231'],
      ['23232345', '2323232'],
    ],
  )
  t.match(a.calls[0], {
    ch: 0,
    direction: 0,
    voiceType: 0,
    phone: '02586307627',
    date: '2008-01-01',
    oper: '801',
    startTime: '13:00:00',
    endTime: '13:00:00',
    file: '20080806_081555_8_013465226206.wav',
    memo: null,
  })
})

t.test('seed: playSelected with error="" is a success, with an error text a failure', async (t) => {
  const ok = doc('playSelectedOk')
  t.equal(ok.error, null)
  t.same(parsePlaySelected(ok), { url: 'http://192.168.0.10:12333/v/audio/1215767846671_796962434_-8845179132077319521.asx' })
  const bad = doc('playSelectedError')
  t.equal(bad.error, '呼叫流水id=12157674323753-1读取错!')
  t.same(parsePlaySelected(bad), { url: null })
})

t.test('seed: getLoc (indented, Chinese city and province)', async (t) => {
  t.same(parseLoc(doc('getLoc')), { phone: '13851498888', location: '200100', city: '南京市', province: '江苏省' })
})

t.test('every seed example decodes the same from GBK, GB18030 and UTF-8 declared bytes', async (t) => {
  for (const [k, v] of Object.entries(SEED)) {
    const a = decodeVackXml(gbk(v))
    const u = decodeVackXml(Buffer.from(v.replace('gb2312', 'utf-8'), 'utf8'))
    const g = decodeVackXml(iconv.encode(v.replace('gb2312', 'GB18030'), 'gb18030'))
    t.same({ ...u, encoding: 'gbk', attrs: a.attrs }, a, k)
    t.same({ ...g, encoding: 'gbk' }, a, k)
  }
})

t.test('encoding: declaration, then Content-Type, then gb2312; GBK-only characters survive', async (t) => {
  t.equal(answerEncoding(Buffer.from('<?xml version="1.0" encoding="UTF-8"?><result/>')), 'utf-8')
  t.equal(answerEncoding(Buffer.from('<result/>'), 'text/xml; charset=utf-8'), 'utf-8')
  t.equal(answerEncoding(Buffer.from('<result/>')), 'gbk')
  t.equal(answerEncoding(Buffer.from('<?xml version="1.0" encoding="nonsense-enc"?><result/>')), 'gbk')
  t.equal(answerEncoding(Buffer.from('\ufeff<result/>', 'utf8')), 'utf-8')
  // 镕 and 堃 are in GBK, not in GB2312: servers labelled gb2312 send them anyway
  const d = decodeVackXml(gbk('<?xml version="1.0" encoding="gb2312"?><result generated="1"><operStatus><oper>朱镕基堃</oper></operStatus></result>'))
  t.equal(parseOperStatus(d).agents[0]!.oper, '朱镕基堃')
})

t.test('entities, CDATA, _NA_ and whitespace', async (t) => {
  const d = decodeVackXml(gbk('<result a="x&amp;y"><chStatus><ch> 7 </ch><phone>  _NA_ </phone><step><![CDATA[a<b]]></step><oper>&#20320;&lt;</oper><status></status></chStatus></result>'))
  t.equal(d.attrs['a'], 'x&y')
  const c = parseChStatus(d).channels[0]!
  t.match(c, { ch: 7, phone: null, step: 'a<b', oper: '你<', status: null })
  t.equal(lineState(c), 'unknown')
})

t.test('bad answers are VackXmlError with a code, never anything else', async (t) => {
  const code = (b: Buffer) => {
    try {
      decodeVackXml(b)
      return 'ok'
    } catch (err) {
      t.ok(err instanceof VackXmlError, String(err))
      return (err as VackXmlError).code
    }
  }
  t.equal(code(Buffer.alloc(0)), 'EMPTY')
  t.equal(code(Buffer.from(' \r\n ')), 'EMPTY')
  t.equal(code(Buffer.from('<html><body>login</body></html>')), 'NO_RESULT')
  t.equal(code(Buffer.from('garbage')), 'NO_RESULT')
  t.equal(code(Buffer.from('<result><__proto__>1</__proto__></result>')), 'BAD_XML')
  // an entity bomb is cut off
  const bomb =
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><result>&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;</result>'
  t.not(code(Buffer.from(bomb)), undefined)
})

t.test('fuzz: 3,000 random and mutated answers never throw anything but VackXmlError', async (t) => {
  const rnd = prng(5)
  const seeds = Object.values(SEED).map(gbk)
  let other = 0
  for (let i = 0; i < 3000; i++) {
    let b: Buffer
    if (i % 2) {
      b = Buffer.alloc(Math.floor(rnd() * 200))
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256)
    } else {
      b = Buffer.from(seeds[i % seeds.length]!)
      for (let k = 0; k < 4; k++) b[Math.floor(rnd() * b.length)] = '<>/"=&_'.charCodeAt(Math.floor(rnd() * 7))
    }
    try {
      const d = decodeVackXml(b)
      parseChStatus(d)
      parseOperStatus(d)
      parseQueueStatus(d)
      parseCustCall(d)
      parsePlaySelected(d)
      parseLoc(d)
    } catch (err) {
      if (!(err instanceof VackXmlError)) other++
    }
  }
  t.equal(other, 0)
})

t.test('line states: every status code and word', async (t) => {
  const st = (status: number | null, inUse: number | null = 0, step: string | null = null) => lineState({ status, inUse, step })
  t.same(
    [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13].map((s) => st(s)),
    ['idle', 'ringing', 'talking', 'dialing', 'dialing', 'dialing', 'held', 'offline', 'dialing', 'unknown', 'offline', 'dialing', 'unknown'],
  )
  t.equal(st(1, 0), 'dialing', 'off-hook, no call: about to dial')
  t.equal(st(1, 1), 'talking', 'off-hook in an inbound call')
  t.equal(st(1, 2, '外呼拨号'), 'dialing')
  t.equal(st(1, 1, '振铃'), 'ringing')
  t.equal(st(1, 2, '通话中'), 'talking')
  t.equal(st(0, -1), 'offline', 'a channel not enabled')
  t.equal(st(null), 'unknown')
  t.same([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map(lineDirection), [null, 'inbound', 'outbound', 'outbound', 'outbound', 'outbound', 'inbound', 'inbound', 'outbound', null, null, null])
  // the Chinese words map to the same codes as the digits
  const words = ['空闲', '摘机', '振铃', '通话', '等待拨号音', '拨号', '等待拨号结果', '挂起', '断线', '等待被叫摘机', '内部状态', '通道不可用', '呼出锁定']
  const xml = words.map((w, i) => `<chStatus><ch>${i}</ch><status>${w}</status><inUse>${i % 2 ? '外部呼入' : '未使用'}</inUse></chStatus>`).join('')
  const chs = parseChStatus(decodeVackXml(gbk(`<result>${xml}<chStatus><ch>99</ch><status>火星</status><inUse>IP接入</inUse></chStatus><chStatus><ch>x</ch></chStatus></result>`)))
  t.same(
    chs.channels.map((c) => c.status),
    [...words.map((_, i) => i), null],
  )
  t.same(
    chs.channels.map((c) => c.inUse),
    [...words.map((_, i) => (i % 2 ? 1 : 0)), 7],
  )
  t.equal(chs.skipped, 1)
})

t.test('forms: GBK percent-encoding both ways', async (t) => {
  const f = { vo_id: 'popModifyCustCall', memo: '客户要求 回电&确认=是', phone_cust: '02586307627', n: 5, b: true, skip: undefined, nil: null }
  const s = encodeForm(f)
  t.equal(s, 'vo_id=popModifyCustCall&memo=%BF%CD%BB%A7%D2%AA%C7%F3+%BB%D8%B5%E7%26%C8%B7%C8%CF%3D%CA%C7&phone_cust=02586307627&n=5&b=true')
  t.same(decodeForm(s), { vo_id: 'popModifyCustCall', memo: '客户要求 回电&确认=是', phone_cust: '02586307627', n: '5', b: 'true' })
  t.same(decodeForm(encodeForm({ memo: '你好' }, 'utf-8'), 'utf-8'), { memo: '你好' })
  t.equal(encodeForm({ memo: '你好' }, 'utf-8'), 'memo=%E4%BD%A0%E5%A5%BD')
  // the first of repeated keys wins (servlet getParameter); `%zz` stays; a key without value is ''
  t.same(decodeForm('a=1&a=2&b=%zz&c&&d=%4'), { a: '1', b: '%zz', c: '', d: '%4' })
  t.same(decodeForm('__proto__=x'), JSON.parse('{"__proto__":"x"}'))
  t.same([...percentBytes('%C4%E3a+')], [0xc4, 0xe3, 0x61, 0x20])
})

t.test('ChStatusReader: the same records as a whole parse, parsing only what changed', async (t) => {
  const full = (b: Buffer) => parseChStatus(decodeVackXml(b))
  const inc = (r: ChStatusReader, b: Buffer) => {
    const { text, encoding } = decodeAnswerText(b)
    return r.read(text, encoding).answer
  }
  // the seed example (no end tag, curly quotes): the whole parse is the reference
  const r0 = new ChStatusReader()
  const seed = gbk(SEED.getChStatus)
  t.same(inc(r0, seed), full(seed))
  t.equal(r0.parsedRecords, 2)
  t.same(inc(r0, seed), full(seed))
  t.equal(r0.parsedRecords, 0, 'nothing changed: nothing parsed')
  // a record that changes, one that disappears, one that is bad
  const rec = (ch: string, status: string) => `<chStatus><ch>${ch}</ch><type>外线</type><inUse>0</inUse><status>${status}</status></chStatus>\n`
  const doc = (...recs: string[]) => gbk(`<?xml version="1.0" encoding="gb2312"?><result generated="7" vo_id="getChStatus" chCnt="3">\n${recs.join('')}</result>`)
  const r = new ChStatusReader()
  const a = doc(rec('1', '空闲'), rec('2', '空闲'), rec('3', '空闲'))
  t.same(inc(r, a), full(a))
  const b = doc(rec('1', '空闲'), rec('2', '振铃'), rec('x', '空闲'))
  t.same(inc(r, b), full(b))
  t.equal(r.parsedRecords, 2)
  t.equal(inc(r, b).skipped, 1)
  // shapes it does not cut: parsed whole, same result
  for (const odd of [
    gbk('<result><chStatus a="1"><ch>1</ch></chStatus></result>'),
    gbk('<result><chStatus><ch>1</ch><chStatus><ch>2</ch></chStatus></chStatus></result>'),
    gbk('<result><chStatus><ch>1</ch></result>'),
    gbk('<result generated="1" error="通道无效">x</result>'),
  ]) {
    const before = r.wholeParses
    t.same(inc(r, odd), full(odd))
    t.equal(r.wholeParses, before + 1)
  }
  t.equal(new ChStatusReader().read(decodeAnswerText(gbk('<result generated="1" error="通道无效">x</result>')).text, 'gbk').doc.error, '通道无效')
  // well-formed answers that change from poll to poll (values, records added, dropped, reordered):
  // always the whole parse's result
  const rnd = prng(11)
  const words = ['空闲', '振铃', '通话', '摘机', '挂起', '火星']
  const rr = new ChStatusReader()
  let recs = Array.from({ length: 30 }, (_, i) => rec(String(i), '空闲'))
  for (let round = 0; round < 100; round++) {
    for (let k = 0; k < 3; k++) {
      const i = Math.floor(rnd() * recs.length)
      const op = rnd()
      if (op < 0.6) recs[i] = rec(String(Math.floor(rnd() * 40)), words[Math.floor(rnd() * words.length)]!)
      else if (op < 0.8) recs.splice(i, 1)
      else recs.splice(i, 0, rec(String(Math.floor(rnd() * 40)), '通话'))
    }
    if (round % 10 === 0) recs = recs.reverse()
    const body = doc(...recs)
    t.same(inc(rr, body), full(body), `round ${round}`)
  }
  // broken bytes: only VackXmlError, and a broken record loses itself, not its neighbours
  let other = 0
  const seedBody = gbk(SEED.getChStatus)
  for (let i = 0; i < 300; i++) {
    const m = Buffer.from(seedBody)
    for (let k = 0; k < 2; k++) m[Math.floor(rnd() * m.length)] = '<>/"=&_1'.charCodeAt(Math.floor(rnd() * 8))
    try {
      const a = inc(rr, m)
      if (!a.channels.every((c) => Number.isInteger(c.ch))) other++
    } catch (err) {
      if (!(err instanceof VackXmlError)) other++
    }
  }
  t.equal(other, 0)
})
