import t from 'tap'
import {
  decodeVackXml,
  encodeChStatus,
  encodeCustCall,
  encodeLoc,
  encodeOperStatus,
  encodePlaySelected,
  encodeQueueStatus,
  encodeVackResult,
  encodeVackXml,
  parseChStatus,
  parseCustCall,
  parseLoc,
  parseOperStatus,
  parsePlaySelected,
  parseQueueStatus,
  xmlEscape,
  type ChStatusInput,
  type CustCall,
  type OperStatus,
} from '../protocols/lq-vack/index.js'
import { prng } from '../protocols/testing/chunks.js'

const AWKWARD = ['<&>"\'', '中文 镕', 'a b', '_NA_x', '0']

t.test('envelope: encodeVackXml / encodeVackResult → decodeVackXml', async (t) => {
  const ok = decodeVackXml(encodeVackResult(1700000000000, { msg: '执行成功', text: '执行成功' }))
  t.match(ok, { generated: '1700000000000', rcode: '0', msg: '执行成功', error: null, text: '执行成功', encoding: 'gbk' })
  for (const s of AWKWARD) {
    const bad = decodeVackXml(encodeVackResult(1, { error: s, text: `why: ${s}` }))
    t.equal(bad.error, s.trim() === '' ? null : s, `error ${s}`)
    t.equal(bad.text, `why: ${s}`)
    t.same(decodeVackXml(encodeVackXml({ generated: 2, vo_id: s }, '')).attrs, { generated: '2', vo_id: s })
  }
  t.equal(xmlEscape(`<a b="c">&'`), '&lt;a b=&quot;c&quot;&gt;&amp;&apos;')
})

function chInput(rnd: () => number, ch: number): ChStatusInput {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!
  return {
    ch,
    kind: pick(['external', 'agent', 'ip', 'recording'] as const),
    inUse: pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, 42]),
    status: pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 77]),
    step: pick([null, '通话中', '等待坐席摘机', ...AWKWARD]),
    peerCh: pick([null, 0, 5]),
    phone: pick([null, '13800138000', ...AWKWARD]),
    oper: pick([null, '801', ...AWKWARD]),
    recording: rnd() < 0.5,
    startTime: pick([null, '13:00:00']),
    endTime: pick([null, '13:01:00']),
    loginTime: pick([null, '08:00:00']),
    idleTime: pick([null, '12:59:00']),
    listened: rnd() < 0.5,
    busy: rnd() < 0.5,
  }
}

t.test('getChStatus: encode → decode keeps every field', async (t) => {
  const rnd = prng(10)
  for (let n = 0; n < 50; n++) {
    const input = Array.from({ length: Math.floor(rnd() * 12) }, (_, i) => chInput(rnd, i))
    const a = parseChStatus(decodeVackXml(encodeChStatus(input, 1700000000000 + n)))
    const back = a.channels.map((c): ChStatusInput => ({
      ch: c.ch,
      kind: c.kind!,
      inUse: c.inUse!,
      status: c.status!,
      step: c.step,
      peerCh: c.peerCh,
      phone: c.phone,
      oper: c.oper,
      recording: c.recording,
      startTime: c.startTime,
      endTime: c.endTime,
      loginTime: c.loginTime,
      idleTime: c.idleTime,
      listened: c.listened,
      busy: c.busy,
    }))
    if (JSON.stringify(back) !== JSON.stringify(input)) return t.same(back, input, `case ${n}`)
    const count = (k: string) => input.filter((c) => c.kind === k).length
    t.same(a.counts, { external: count('external'), agent: count('agent'), ip: count('ip'), recording: count('recording') })
    t.equal(a.generated, String(1700000000000 + n))
    t.equal(a.skipped, 0)
  }
})

t.test('getOperStatus, getQueueStatus, getCustCall, playSelected, getLoc: encode → decode', async (t) => {
  const agents: OperStatus[] = [
    { oper: '801', ch: 8, inUse: 1, status: 3, phone: '13800138000', loggedIn: true, busy: false },
    { oper: '中<文>', ch: null, inUse: null, status: null, phone: null, loggedIn: null, busy: null },
    { oper: '803', ch: 0, inUse: 0, status: 0, phone: null, loggedIn: false, busy: true },
  ]
  t.same(parseOperStatus(decodeVackXml(encodeOperStatus(agents, 1))), { agents, skipped: 0 })

  const queue = {
    sizes: { callauto: 1, chWait: 2, calloutb: 0 },
    entries: [
      { inUse: 1, type: '外部呼入', phone: '13912345678', ch: 3, waitType: 'oper', waitValue: null, startTime: '17:24:23', totalSeconds: 2 },
      { inUse: 4, type: '自动呼出', phone: null, ch: null, waitType: null, waitValue: '801', startTime: null, totalSeconds: null },
    ],
  }
  t.same(parseQueueStatus(decodeVackXml(encodeQueueStatus(queue, 7))), { ...queue, generated: '7' })

  const call: CustCall = {
    id: '10010',
    sn: '1001',
    ch: 0,
    direction: 1,
    voiceType: 6,
    phone: '139',
    date: '2024-05-01',
    oper: '801',
    startTime: '13:00:00',
    endTime: '13:01:00',
    file: null,
    reason: null,
    called: null,
    result: null,
    satisfaction: null,
    memo: 'a<b>&c 中',
  }
  const full: CustCall = { ...call, id: '2', file: '2024.wav', reason: '咨询', called: '8001', result: '成功', satisfaction: '满意', memo: null }
  t.same(parseCustCall(decodeVackXml(encodeCustCall({ total: 12, page: 2, calls: [call, full] }, 1))), { total: 12, page: 2, calls: [call, full] })
  t.same(parseCustCall(decodeVackXml(encodeCustCall({ total: null, page: null, calls: [] }, 1))), { total: null, page: null, calls: [] })

  t.same(parsePlaySelected(decodeVackXml(encodePlaySelected({ url: 'http://h:1/v/audio/a.asx?x=1&y=2' }, 1))), { url: 'http://h:1/v/audio/a.asx?x=1&y=2' })
  const failed = decodeVackXml(encodePlaySelected({ url: null, error: '呼叫流水id=1读取错!' }, 1))
  t.equal(failed.error, '呼叫流水id=1读取错!')
  t.same(parsePlaySelected(failed), { url: null })
  t.equal(decodeVackXml(encodePlaySelected({ url: 'x' }, 1)).error, null, 'error="" is no error')

  for (const loc of [
    { phone: '02588', location: '210000', city: '南京市', province: '江苏省' },
    { phone: '9', location: null, city: null, province: null },
  ]) {
    t.same(parseLoc(decodeVackXml(encodeLoc(loc, 1))), loc)
  }
})
