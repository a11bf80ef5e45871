import t from 'tap'
import { BOX_STATUS, StatusError, boxSourceId, decodeAnswer, formatMac, normaliseMac, decodeStatus, encodeStatus, fail, messages, ok, statusWire, type BoxStatus } from '../protocols/800hu/index.js'
import { prng } from '../protocols/testing/chunks.js'

const FULL: BoxStatus = {
  disk: { usagePercent: 5, size: '29.3G', surplus: '27.8G', status: -1, statusText: 'no disk found' },
  ip: '192.168.1.50',
  channels: [
    { ch: '1', state: 4, phone: '13800138000', peer: '2', timelen: 12, serial: '1' },
    { ch: '2', state: 1, phone: null, peer: null, timelen: 0, serial: null },
    { ch: '3', state: 7, phone: '*86#', peer: '1', timelen: null, serial: 'A1' },
  ],
}

t.test('channelstatus: encode → decode gives the status back', async (t) => {
  t.same(decodeStatus(encodeStatus(FULL)), FULL)
  t.same(decodeStatus(statusWire(FULL)), FULL, 'the object form (JSON bodies) too')
  const bare: BoxStatus = { disk: null, ip: null, channels: [] }
  t.same(decodeStatus(encodeStatus(bare)), bare, 'no disk fields: disk stays null')
  const nullDisk: BoxStatus = { disk: { usagePercent: null, size: null, surplus: null, status: null, statusText: null }, ip: null, channels: [] }
  t.same(decodeStatus(encodeStatus(nullDisk)), nullDisk)
})

t.test('channelstatus: the wire is the vendor example shape (strings, diskStatus a number)', async (t) => {
  t.same(JSON.parse(encodeStatus(FULL)), {
    diskUsagePercent: '5',
    diskSize: '29.3G',
    diskSurplusSize: '27.8G',
    diskStatus: -1,
    ip: '192.168.1.50',
    channels: [
      { ch: '1', state: '4', phone: '13800138000', timelen: '12', peer: '2', serial: '1' },
      { ch: '2', state: '1', phone: '', timelen: '0', peer: '', serial: '' },
      { ch: '3', state: '7', phone: '*86#', timelen: '', peer: '1', serial: 'A1' },
    ],
  })
})

t.test('channelstatus: random statuses round-trip', async (t) => {
  const rnd = prng(800)
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!
  for (let n = 0; n < 300; n++) {
    const channels = Array.from({ length: Math.floor(rnd() * 9) }, (_, i) => ({
      ch: String(i + 1),
      state: pick([0, 1, 2, 3, 4, 9, -1]),
      phone: pick([null, '13800138000', '8001', '中文']),
      peer: pick([null, '1', '2']),
      timelen: pick([null, 0, 1, 3600]),
      serial: pick([null, '1', 'x']),
    }))
    const status = pick([null, 0, -2, -4, 5])
    const s: BoxStatus = {
      disk:
        rnd() < 0.3
          ? null
          : {
              usagePercent: pick([null, 0, 5, 99]),
              size: pick([null, '1G']),
              surplus: pick([null, '2G']),
              status,
              statusText: status === null ? null : (({ 0: 'ok', [-2]: 'mount failed', [-4]: 'unknown error' } as Record<number, string>)[status] ?? `unknown diskStatus ${status}`),
            },
      ip: pick([null, '10.0.0.1']),
      channels,
    }
    const back = decodeStatus(encodeStatus(s))
    if (JSON.stringify(back) !== JSON.stringify(s)) return t.same(back, s, `case ${n}`)
  }
  t.pass('300 statuses')
})

t.test('channelstatus: malformed input is a StatusError, never another exception', async (t) => {
  t.throws(() => decodeStatus('{'), StatusError)
  t.throws(() => decodeStatus('['.repeat(100) + ']'.repeat(100)), StatusError)
  t.throws(
    () =>
      decodeStatus({
        channels: [
          { ch: 1, state: 1 },
          { ch: '01', state: 1 },
        ],
      }),
    StatusError,
  )
  const text = encodeStatus(FULL)
  for (let i = 0; i < text.length; i++) {
    try {
      decodeStatus(text.slice(0, i))
    } catch (err) {
      if (!(err instanceof StatusError)) return t.fail(`cut at ${i}: ${err}`)
    }
  }
  t.pass('every prefix')
})

t.test('answers: encode → decode', async (t) => {
  t.same(decodeAnswer(ok({ callid: '768' }, 1700000000000).body), { status: 0, time: 1700000000000, message: null, callid: '768', error: null, data: null })
  t.same(ok(undefined, 5).body, { time: '5', status: 0 }, 'time is a string, as the vendor sends it')
  t.same(decodeAnswer(fail(BOX_STATUS.NOT_REGISTERED, undefined, { now: 7 }).body), { status: 3001, time: 7, message: '设备未注册或未分配用户', callid: null, error: null, data: null })
  t.same(decodeAnswer(fail(BOX_STATUS.SAVE_FAILED, 'disk full', { now: 7, error: 'TB_STORAGE', callid: 'c1', http: 503 }).body), {
    status: -13,
    time: 7,
    message: 'disk full',
    callid: 'c1',
    error: 'TB_STORAGE',
    data: null,
  })
  const items = [{ status: '0', mdcWan: '1', phone: '10086' }]
  t.same(decodeAnswer(JSON.parse(JSON.stringify(messages(items).body))).data, items, 'through JSON, as on the wire')
  t.same(decodeAnswer({ status: '3003' }).status, 3003, 'a numeric string status counts')
  for (const v of [null, 1, 'x', [], { status: 'ok' }, { status: {} }]) t.equal(decodeAnswer(v).status, null, JSON.stringify(v))
})

t.test('MAC: format → normalise gives the 12 digits back; every spelling normalises alike', async (t) => {
  const rnd = prng(12)
  for (let n = 0; n < 200; n++) {
    const mac = Array.from({ length: 12 }, () => '0123456789abcdef'[Math.floor(rnd() * 16)]).join('')
    const colon = formatMac(mac)
    if (normaliseMac(colon) !== mac || normaliseMac(colon.toUpperCase().replace(/:/g, '-')) !== mac || normaliseMac(` ${mac.toUpperCase()} `) !== mac) return t.fail(mac)
  }
  // issue 12 item 7: five octets (the seed's `00:00:00:00:01`) are a MAC now, with a leading 00 octet
  t.equal(normaliseMac('00:00:00:00:01'), '000000000001')
  for (const bad of ['', '00:00:00', '00:00:00-00:00:01', '0000000000zz', '00:00:00:00:00:001']) t.equal(normaliseMac(bad), null, bad)
  t.equal(boxSourceId('00000000000a'), '800hu-00000000000a')
})
