import t from 'tap'
import {
  LqConnectDecoder,
  decodeRawRegistration,
  decodeRegistration,
  encodeRegistration,
  encodeTryRep,
  plausibleRegistration,
  registrationAgent,
  type Frame,
  type Registration,
} from '../protocols/lq-connect/index.js'
import { feedAll, firstMismatch } from '../protocols/testing/chunks.js'

/** What a server reads from a client's bytes: handshakes and the registration, as the LQ server decodes them. */
function serverRead(chunks: Buffer[]): (string | Registration)[] {
  const dec = new LqConnectDecoder({ handshake: 'TRY_REP', plausible: plausibleRegistration })
  const out: (string | Registration)[] = []
  for (const c of chunks)
    dec.write(
      c,
      (f: Frame) => out.push(f.type === 'handshake' ? f.token : decodeRegistration(f.payload)),
      () => out.push('error'),
    )
  return out
}

const CASES = [
  { template: 'oper={oper},ch={ch};', oper: '801', ch: '-1', agent: '801' },
  { template: 'op={oper}', oper: 'A_9', ch: '', agent: 'A_9' },
  { template: '{oper},{ch}', oper: '803', ch: '4', agent: '803' },
  { template: '工号={oper};oper={oper}', oper: '张三', ch: '', agent: '张三' },
  { template: '???', oper: '', ch: '', agent: null },
]

t.test('length-framed registration: encode → decode at every split, after a TRY_REP', async (t) => {
  for (const c of CASES) {
    const wire = Buffer.concat([encodeTryRep(), encodeRegistration({ ...c, framing: 'length' }), encodeTryRep()])
    const text = c.template.replace(/\{(oper|ch)\}/g, (_m, k: string) => (k === 'oper' ? c.oper : c.ch))
    const want = ['TRY_REP', { text, agent: c.agent }, 'TRY_REP']
    t.same(firstMismatch(feedAll(wire, serverRead), want) ?? null, null, c.template)
  }
})

t.test('raw registration: the text without TRY_REPs', async (t) => {
  for (const c of CASES) {
    const raw = encodeRegistration({ ...c, framing: 'raw' })
    const text = c.template.replace(/\{(oper|ch)\}/g, (_m, k: string) => (k === 'oper' ? c.oper : c.ch))
    t.same(decodeRawRegistration(Buffer.concat([encodeTryRep(), raw, encodeTryRep()])), { text, agent: c.agent }, c.template)
  }
  t.equal(decodeRawRegistration(Buffer.concat([encodeTryRep(), Buffer.from('  ')])), null, 'nothing but TRY_REP and blanks')
  t.equal(decodeRawRegistration(Buffer.from('x'.repeat(400)))!.text.length, 255)
})

t.test('registrationAgent', async (t) => {
  t.equal(registrationAgent('oper=801,ch=-1;'), '801')
  t.equal(registrationAgent('ch=1;op=802'), '802')
  t.equal(registrationAgent('803,-1'), '803')
  t.equal(registrationAgent('???'), null)
  t.notOk(plausibleRegistration(Buffer.from('a\u0001b')))
  t.ok(plausibleRegistration(Buffer.from('oper=801')))
})
