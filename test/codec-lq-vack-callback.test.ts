import t from 'tap'
import { parseDtmf, PopError } from '../protocols/lq-pop/index.js'
import { callbackFields, callbackUrl, decodeCustCallback, decodeIvrCallback, encodeCustCallback, encodeIvrCallback, type FormCharset } from '../protocols/lq-vack/index.js'

const ZONE = 'Asia/Shanghai'
/** the request target an HTTP server sees for a URL (Node gives the raw bytes as latin1) */
const target = (url: string) => new URL(url).pathname + new URL(url).search

for (const charset of ['gbk', 'utf-8'] as FormCharset[]) {
  t.test(`custURL (${charset}): encode → decode`, async (t) => {
    const t0 = Date.UTC(2024, 4, 1, 3, 4, 5)
    const q = encodeCustCallback({ phone: '02586307627', oper: '客服甲', ch: 9, outch: 2, startTime: t0, datetime: '240501110405', id: 'c 1&2', dtmf: '1,2#' }, charset, { memo: '备注 a=b' })
    t.match(q, /^phone=02586307627&oper=.*&ch=9&outch=2&startTime=\d+&datetime=240501110405&id=c\+1%262&dtmf=1%2C2%23&memo=/, "the server's field order, form escaping")
    const url = callbackUrl('http://crm.example/lq/cust?key=k&', q)
    const f = callbackFields(target(url), charset)
    t.equal(f['key'], 'k')
    delete f['key']
    const pop = decodeCustCallback(f, ZONE)
    if (pop instanceof PopError) throw pop
    t.match(pop, {
      format: 't1v3',
      channel: 2,
      phone: '02586307627',
      agent: '客服甲',
      callId: 'c 1&2',
      time: '2024-05-01T11:04:05+08:00',
      direction: 'inbound',
      extra: { memo: '备注 a=b', agentCh: '9' },
    })
    t.same(pop.dtmf, parseDtmf('1,2#'), 'dtmf as the pop parser reads it')
  })

  t.test(`popCRURL (${charset}): encode → decode`, async (t) => {
    const q = encodeIvrCallback({ v: 'VO_VAL_PWD2', r: -1, ph: '02586307627', pa: '333 333', da: '验证:通过|次数:2' }, charset)
    const pop = decodeIvrCallback(callbackFields(target(callbackUrl('http://h/ivr', q)), charset))
    if (pop instanceof PopError) throw pop
    t.match(pop, { format: 't2', phone: '02586307627', ivr: { voId: 'VO_VAL_PWD2', result: -1, param: '333 333' }, data: { 验证: '通过', 次数: '2' }, extra: {} })
  })
}

t.test('custURL without an agent is t1v2; callId from startTime and ch', async (t) => {
  const pop = decodeCustCallback(callbackFields('/x?' + encodeCustCallback({ phone: '139', ch: 4, startTime: 1700000000000 }, 'gbk'), 'gbk'), ZONE)
  if (pop instanceof PopError) throw pop
  t.match(pop, { format: 't1v2', channel: 4, agent: null, callId: '17000000000004', time: '2023-11-15T06:13:20.000+08:00' })
})

t.test('popCRURL da: daRaw as sent, dataPairs in order with repeats; custURL has none', async (t) => {
  const q = encodeIvrCallback({ v: 'VO_X', r: 0, ph: '139', da: '次数:1|次数:2|时间:2008-01-01 12:00:00|通过' }, 'gbk')
  t.match(q, /&da=%B4%CE%CA%FD%3A1%7C/, 'GBK percent-encoding of the Chinese key')
  const pop = decodeIvrCallback(callbackFields('/i?' + q, 'gbk'))
  if (pop instanceof PopError) throw pop
  t.equal(pop.daRaw, '次数:1|次数:2|时间:2008-01-01 12:00:00|通过')
  t.strictSame(pop.dataPairs, [
    ['次数', '1'],
    ['次数', '2'],
    ['时间', '2008-01-01 12:00:00'],
    ['', '通过'],
  ])
  t.strictSame(pop.data, { 次数: '2', 时间: '2008-01-01 12:00:00', 通过: '' }, 'the object view keeps its old shape')
  const none = decodeIvrCallback(callbackFields('/i?v=VO_X&r=0', 'gbk'))
  if (none instanceof PopError) throw none
  t.equal(none.daRaw, null)
  t.equal(none.dataPairs, null)
  const cust = decodeCustCallback(callbackFields('/c?phone=1&ch=1', 'gbk'), ZONE)
  if (cust instanceof PopError) throw cust
  t.equal(cust.daRaw, null)
  t.equal(cust.dataPairs, null)
})

t.test('bad callbacks are PopErrors naming the field', async (t) => {
  const cust = (q: string) => decodeCustCallback(callbackFields('/c?' + q, 'gbk'), ZONE)
  t.match(cust('phone=1'), { code: 'MISSING_FIELD', field: 'ch' })
  t.match(cust('phone=1&ch=x'), { code: 'BAD_CHANNEL', field: 'ch' })
  t.match(cust('ch=1'), { code: 'MISSING_FIELD', field: 'phone' })
  t.match(cust('phone=1&ch=1&datetime=2024'), { code: 'BAD_FIELD', field: 'datetime' })
  t.match(cust('phone=1&ch=1&startTime=soon'), { code: 'BAD_FIELD', field: 'startTime' })
  t.match(decodeIvrCallback(callbackFields('/i?r=ok', 'gbk')), { code: 'BAD_FIELD', field: 'r' })
})

t.test('callbackUrl joins as the server does', async (t) => {
  t.equal(callbackUrl('http://h/a', 'x=1'), 'http://h/a?x=1')
  t.equal(callbackUrl('http://h/a?', 'x=1'), 'http://h/a?x=1')
  t.equal(callbackUrl('http://h/a?k=1', 'x=1'), 'http://h/a?k=1&x=1')
  t.equal(callbackUrl('http://h/a?k=1&', 'x=1'), 'http://h/a?k=1&x=1')
})
