import t from 'tap'
import { createServer } from 'node:http'
import iconv from 'iconv-lite'
import {
  GuoxinBadAnswer,
  GuoxinClient,
  OPTS,
  SERVLET_OPS,
  type GuoxinOpt,
  OPT_CODES,
  codeMeaning,
  decodeQuery,
  encodeQuery,
  parseCallLog,
  parseCallLogs,
  parseExtStates,
  parseKv,
  parsePush,
  parseTaskResult,
  parseTtsMonitor,
} from '../protocols/guoxin/index.js'
import { prng, splits } from '../protocols/testing/chunks.js'

// seed 001 §14, as printed
const SEED_EXTNUM_STATE =
  '[{"telNum":"801","userName":"李阳","telRegState":1,"phoneType":"NewRockTech-MX8-v1.9.82.333/UA","state":"ONLINE","presence":"online","missingCallCount":0}, {"telNum":"802","userName":"张霞","telRegState":1,"phoneType":"NewRockTech-MX8-v1.9.82.333/UA","remoteNum":"1322784XXXX","state":"BUSY_OUTGOING","presence":"online","missingCallCount":0}]'

const SEED_STATES = [
  {
    telNum: '801',
    userName: '李阳',
    registered: true,
    phoneType: 'NewRockTech-MX8-v1.9.82.333/UA',
    state: 'idle',
    stateRaw: 'ONLINE',
    presence: 'online',
    presenceRaw: 'online',
    missingCallCount: 0,
    remoteNum: null,
  },
  {
    telNum: '802',
    userName: '张霞',
    registered: true,
    phoneType: 'NewRockTech-MX8-v1.9.82.333/UA',
    state: 'busy-outgoing',
    stateRaw: 'BUSY_OUTGOING',
    presence: 'online',
    presenceRaw: 'online',
    missingCallCount: 0,
    remoteNum: '1322784XXXX',
  },
]

// seed 001 §21; the printed second object is cut by the page break ("Mar\n28, 2016 6:20:41 PM", "}}]"), mended here
const SEED_CALL_LOG =
  '[{"id":37,"caller":"60610123","callee":"816","beginTime":1459160867375,"duration":41,"state":"STATE_RECEIVED","callType":"LOCAL_CALL","estimate":"","channel":"192.168.3.80","callid":"173a248c-8f85-4edb-b0c2-c11e1894a0d5%40192.168.1.82","calleuid":32,"record":"","recordVoice":"","cname":"","servicetype":"","manustate":"","clickcallid":"","fxonum":"","productid":0,"_callTime":"Mar 28, 2016 6:27:47 PM","_judge":0},{ "id":36,"caller":"60610123","callee":"3888","beginTime":1459160441301,"duration":0,"state":"STATE_FAILED","callType":"LOCAL_CALL","estimate":"","channel":"192.168.3.82:5062","callid":"44530c9c-4184-43f1-a456-d51c272eff3b%40192.168.3.80","record":"","recordVoice":"","cname":"","servicetype":"","manustate":"","clickcallid":"","fxonum":"","productid":0,"_callTime":"Mar 28, 2016 6:20:41 PM", "_judge":0}]'

t.test("the seed's EXTNUM_STATE example parses to the expected extensions", async (t) => {
  const r = parseExtStates(SEED_EXTNUM_STATE)
  t.same(r.skipped, [])
  t.same(r.states, SEED_STATES)
})

t.test('EXTNUM_STATE: documented spellings, odd entries skipped with a reason, junk rejected', async (t) => {
  const r = parseExtStates(
    JSON.stringify([
      { telNum: 803, state: 'IDEL', presence: 'Online', telRegState: 0, missingCallCount: '3' },
      { telNum: '804', state: 'BUSY_INCOMING', presence: 'unkown', remoteNum: '' },
      { telNum: '805', state: 'OFFLINE', presence: 'busy' },
      { telNum: '806', state: 'SOMETHING_NEW' },
      { state: 'IDEL' },
      { telNum: 'a b', state: 'IDEL' },
      { telNum: '803', state: 'IDEL' },
      'x',
    ]),
  )
  t.same(
    r.states.map((s) => [s.telNum, s.state, s.presence, s.registered, s.missingCallCount, s.remoteNum]),
    [
      ['803', 'idle', 'online', false, 3, null],
      ['804', 'busy-incoming', 'unknown', null, 0, null],
      ['805', 'offline', 'busy', null, 0, null],
      ['806', 'unknown', 'unknown', null, 0, null],
    ],
  )
  t.same(
    r.skipped.map((s) => s.index),
    [4, 5, 6, 7],
  )
  t.match(r.skipped[2]!.reason, /listed twice/)
  t.throws(() => parseExtStates('<html>error</html>'), GuoxinBadAnswer)
  t.throws(() => parseExtStates('{"telNum":"801"}'), /expected a JSON array/)
  t.same(parseExtStates('\ufeff[]').states, [])
})

t.test('the seed\'s call log example parses (callid percent-decoded, "" estimate as null)', async (t) => {
  const r = parseCallLogs(SEED_CALL_LOG)
  t.same(r.skipped, [])
  t.equal(r.logs.length, 2)
  t.same(r.logs[0], {
    id: 37,
    caller: '60610123',
    callee: '816',
    channel: '192.168.3.80',
    beginTime: 1459160867375,
    duration: 41,
    state: 'received',
    stateRaw: 'STATE_RECEIVED',
    callType: 'LOCAL_CALL',
    estimate: null,
    record: null,
    recordVoice: null,
    cname: null,
    servicetype: null,
    manustate: null,
    clickcallid: null,
    fxonum: null,
    productid: 0,
    callid: '173a248c-8f85-4edb-b0c2-c11e1894a0d5@192.168.1.82',
    extra: { calleuid: 32, _callTime: 'Mar 28, 2016 6:27:47 PM', _judge: 0 },
  })
  t.equal(r.logs[1]!.state, 'failed')
  t.equal(r.logs[1]!.channel, '192.168.3.82:5062')
  // the field table's capitalised names (Record, Cname, Fxonum) are accepted too
  const one = parseCallLog('{"id":1,"caller":"1","callee":"2","Record":"回访","Cname":"王先生","recordVoice":"D:/records/a.wav","estimate":2}')
  t.equal(one?.record, '回访')
  t.equal(one?.cname, '王先生')
  t.equal(one?.estimate, 2)
  t.equal(parseCallLog(''), null)
  t.equal(parseCallLog('[]'), null)
  t.throws(() => parseCallLog('{"caller":"1"}'), /no numeric id/)
  t.same(parseCallLogs('[{"x":1}]').skipped, [{ index: 0, reason: 'no numeric id' }])
})

t.test('§18 answers: state=1;satisfact=8, queue=0;playcount=0, and bare §3 codes', async (t) => {
  t.same(parseKv('state=1;satisfact=8'), { state: '1', satisfact: '8' })
  t.same(parseTaskResult('IVR_TTS_CALL_RESULT', 200, 'state=1;satisfact=8'), { code: 1, state: 'succeeded', vars: { satisfact: '8' }, raw: 'state=1;satisfact=8' })
  t.same(parseTaskResult('GET_CAPTCHA_RESULT', 200, '3\r\n'), { code: 3, state: 'vacant-number', vars: {}, raw: '3' })
  t.equal(parseTaskResult('GET_CAPTCHA_RESULT', 200, '404').state, 'no-such-id')
  t.equal(parseTaskResult('GET_CAPTCHA_RESULT', 404, '').state, 'no-such-id')
  t.equal(parseTaskResult('GET_CAPTCHA_RESULT', 200, '77').state, 'unknown')
  t.throws(() => parseTaskResult('IVR_TTS_CALL_RESULT', 200, 'hello'), GuoxinBadAnswer)
  t.same(parseTtsMonitor('queue=0;playcount=0'), { queue: 0, playcount: 0 })
  t.throws(() => parseTtsMonitor('queue=1'), /playcount/)
})

t.test("the seed's push example parses; maincall is told apart", async (t) => {
  // what fastify hands over after percent-decoding the seed's §4 URL
  const q = Object.fromEntries(
    new URLSearchParams(
      'id=c635814c-4c50-4340-adcf-bc3824e1ea70%40192.168.1.82&caller=1591982xxxx&callee=802&state=ringing&direction=incoming&businessId=14310454421088926826-0%40192.168.1.102&group=3003',
    ),
  )
  // the seed masks digits with x; a real number has digits
  q.caller = '15919820000'
  t.same(parsePush(q), {
    ok: true,
    push: {
      id: 'c635814c-4c50-4340-adcf-bc3824e1ea70@192.168.1.82',
      caller: '15919820000',
      callee: '802',
      state: 'ringing',
      direction: 'incoming',
      businessId: '14310454421088926826-0@192.168.1.102',
      mainCall: false,
      group: '3003',
    },
  })
  const main = parsePush({ ...q, businessId: 'maincall', caller: '', extra: 'ignored' })
  // issue 11: ids with +/=, SIP callers (the number is taken) and Chinese group names are accepted
  t.match(parsePush({ ...q, id: 'Ab+/=@x', caller: 'sip:13700000000@10.0.0.9:5060', callee: 'sip:802@10.0.0.6', group: '售前组', businessId: 'a,b' }), {
    ok: true,
    push: { id: 'Ab+/=@x', caller: '13700000000', callee: '802', group: '售前组', businessId: 'a,b' },
  })
  t.ok(main.ok && main.push.mainCall && main.push.caller === null)
})

t.test('bad pushes name the field', async (t) => {
  const good = { id: 'abc@1.2.3.4', caller: '13900000000', callee: '801', state: 'talking' }
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ ...good, id: undefined }, 'id', /missing/],
    [{ ...good, id: 'a b' }, 'id', /id must be/],
    [{ ...good, id: 'x'.repeat(129) }, 'id', /id must be/],
    [{ ...good, callee: '' }, 'callee', /missing/],
    [{ ...good, callee: '80;1' }, 'callee', /callee must be/],
    [{ ...good, caller: undefined }, 'caller', /missing/],
    [{ ...good, caller: '<script>' }, 'caller', /caller must be/],
    [{ ...good, state: 'answered' }, 'state', /one of calling, ringing, canceled, talking, hungup/],
    [{ ...good, state: undefined }, 'state', /missing/],
    [{ ...good, state: ['talking', 'hungup'] }, 'state', /more than once/],
    // issue 11 made the receiver tolerant (`a,b`, `3003;x`, `in coming` now pass): what stays refused
    [{ ...good, businessId: 'a b' }, 'businessId', /businessId must be/],
    [{ ...good, group: '3003\u0007' }, 'group', /group must be/],
    [{ ...good, group: 'g'.repeat(65) }, 'group', /group must be/],
    [{ ...good, direction: 'in\ncoming' }, 'direction', /direction must be/],
  ]
  for (const [q, field, msg] of cases) {
    const r = parsePush(q)
    t.notOk(r.ok, JSON.stringify(q))
    if (!r.ok) {
      t.equal(r.field, field)
      t.match(r.message, msg)
    }
  }
})

t.test('random push queries and answers never throw anything but GuoxinBadAnswer', async (t) => {
  const rand = prng(5)
  const keys = ['id', 'caller', 'callee', 'state', 'direction', 'businessId', 'group', 'x']
  const vals = ['', '801', 'maincall', 'ringing', 'hungup', 'a@b', '%40', '中文', ';', 'x'.repeat(200)]
  let accepted = 0
  for (let i = 0; i < 20000; i++) {
    const q: Record<string, unknown> = {}
    for (const k of keys) if (rand() < 0.7) q[k] = rand() < 0.05 ? [vals[0], vals[1]] : vals[Math.floor(rand() * vals.length)]
    const r = parsePush(q)
    if (r.ok) accepted++
  }
  t.ok(accepted > 0, `${accepted} random pushes were valid`)
  for (let i = 0; i < 5000; i++) {
    const bytes = Buffer.from(Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256)))
    for (const fn of [parseExtStates, parseCallLogs, parseCallLog]) {
      try {
        fn(bytes.toString('latin1'))
      } catch (err) {
        if (!(err instanceof GuoxinBadAnswer)) throw err
      }
    }
  }
})

t.test("every documented code of every opt has a meaning in English and in the seed's words", async (t) => {
  for (const [opt, table] of Object.entries(OPT_CODES)) {
    t.ok([...OPTS, ...SERVLET_OPS].includes(opt as (typeof OPTS)[number]), opt)
    for (const [code, m] of Object.entries(table!)) {
      t.ok(m.en && m.zh, `${opt} ${code}`)
      t.ok(codeMeaning(opt as GuoxinOpt, Number(code)).documented)
    }
  }
  t.same(codeMeaning('CLICK_TO_TRANSFER', 481), { en: 'extnum has no call that can be transferred', zh: 'extnum 不存在可以转移的通话', documented: true })
  t.equal(codeMeaning('CALL_MONITOR', 404).zh, '被监听分机没有在通话')
  t.notOk(codeMeaning('CLICK_TO_DIAL', 486).documented)
  t.match(codeMeaning('CLICK_TO_DIAL', 599).en, /not in the vendor's documentation/)
})

t.test('query strings in UTF-8 and GBK, both ways', async (t) => {
  const params: [string, string][] = [
    ['token', 'a b+c&d=e'],
    ['ttsabc', '你好世界!'],
    ['opt', 'IVR_TTS_CALL'],
  ]
  const u = encodeQuery(params, 'utf-8')
  t.equal(u, 'token=a%20b%2Bc%26d%3De&ttsabc=%E4%BD%A0%E5%A5%BD%E4%B8%96%E7%95%8C%21&opt=IVR_TTS_CALL')
  const g = encodeQuery(params, 'gbk')
  t.equal(g, 'token=a%20b%2Bc%26d%3De&ttsabc=%C4%E3%BA%C3%CA%C0%BD%E7%21&opt=IVR_TTS_CALL')
  for (const [enc, s] of [
    ['utf-8', u],
    ['gbk', g],
  ] as const) {
    const d = decodeQuery(s, enc)
    t.same(
      [...d].map(([k, v]) => [k, v[0]]),
      params,
      enc,
    )
  }
  t.same(
    decodeQuery('a=1&a=2&b&c=%zz&d=x+y', 'utf-8'),
    new Map([
      ['a', ['1', '2']],
      ['b', ['']],
      ['c', ['%zz']],
      ['d', ['x y']],
    ]),
  )
  t.equal(
    encodeQuery(
      [
        ['a', undefined],
        ['b', 1],
      ],
      'utf-8',
    ),
    'b=1',
  )
})

t.test('an EXTNUM_STATE answer split at every byte boundary over real HTTP parses the same (GBK and UTF-8)', async (t) => {
  for (const enc of ['gbk', 'utf-8'] as const) {
    const body = iconv.encode(SEED_EXTNUM_STATE, enc)
    const all = [...splits(body)]
    let i = 0
    const server = createServer((req, res) => {
      const chunks = all[i++]!.chunks
      res.writeHead(200, { 'content-type': `application/json;charset=${enc}`, 'content-length': body.length })
      res.socket?.setNoDelay(true)
      let k = 0
      const next = () => {
        if (k === chunks.length - 1) return res.end(chunks[k])
        res.write(chunks[k++])
        setImmediate(next)
      }
      next()
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    const port = (server.address() as { port: number }).port
    const client = new GuoxinClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 2000, encoding: enc === 'gbk' ? 'utf-8' : 'gbk' })
    let bad: string | null = null
    for (const s of all) {
      const r = await client.extStates()
      if (JSON.stringify(r.states) !== JSON.stringify(SEED_STATES)) {
        bad = s.name
        break
      }
    }
    t.equal(bad, null, `${enc}: every split (${all.length}) parses alike; the answer's charset wins over the configured one`)
    await new Promise<void>((r) => server.close(() => r()))
  }
})

t.test('CLICK_TO_DIAL answer → clickcallid (bare, k=v, JSON); anything else null', async (t) => {
  const { parseClickCallId } = await import('../protocols/guoxin/index.js')
  t.equal(parseClickCallId('  cc123-4@x\r\n'), 'cc123-4@x')
  t.equal(parseClickCallId('clickcallid=abc;x=1'), 'abc')
  t.equal(parseClickCallId('{"clickcallid":"j1"}'), 'j1')
  t.equal(parseClickCallId('{"clickcallid":42}'), '42')
  for (const bad of ['', '{"x":1}', '{broken', 'a b', '<b>', 'x'.repeat(129)]) t.equal(parseClickCallId(bad), null, JSON.stringify(bad))
})
