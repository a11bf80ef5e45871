import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, loadConfig, parseConfig } from '../daemon/config.js'

const minimal = { api: { host: '127.0.0.1', port: 7700 }, sources: [{ id: 'lq1', type: 'lq-socket', host: '127.0.0.1', port: 7628, oper: '801', ch: '-1' }] }

t.test("the issue's minimal config is valid and gets documented defaults", async (t) => {
  const c = parseConfig(minimal)
  t.equal(c.api.eventBuffer, 10000)
  const s = c.sources[0]!
  t.equal(s.expireSeconds, 30)
  t.equal(s.reconnectSeconds, 20)
  t.same(s.registration, { template: 'oper={oper},ch={ch};', framing: 'length' })
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.sources[0]), 'frozen')
  t.equal(parseConfig({ sources: [{ id: 'x', type: 'lq-socket', host: 'h', oper: 801, ch: -1 }] }).sources[0]!.oper, '801', 'numbers accepted where the vendor uses strings')
})

const bad: [string, unknown, RegExp][] = [
  ['unknown top key', { ...minimal, apii: {} }, /^apii: expected no such key/],
  ['unknown nested key', { api: { hots: 'x' } }, /^api\.hots: expected no such key \(known here: host, port/],
  ['port out of range', { api: { port: 70000 } }, /^api\.port: expected a TCP port/],
  ['bad source type', { sources: [{ id: 'a', type: 'lq-sockets' }] }, /^sources\[0\]\.type: expected one of "lq-socket"/],
  ['missing host', { sources: [{ id: 'a', type: 'lq-socket', oper: '801' }] }, /^sources\[0\]\.host: expected a value/],
  ['duplicate id', { sources: [minimal.sources[0], minimal.sources[0]] }, /^sources\[1\]\.id: expected an id not used/],
  ['public host without token', { api: { host: '0.0.0.0' } }, /^api\.token: expected a token, because api\.host 0\.0\.0\.0 is not loopback/],
  ['short token', { api: { token: 'abc' } }, /^api\.token: expected a string of at least 16/],
  ['bad time zone', { timeZone: 'Mars/Olympus' }, /^timeZone: expected an IANA time zone/],
  ['bad ch', { sources: [{ ...minimal.sources[0], ch: 'x' }] }, /^sources\[0\]\.ch: expected a channel number or -1/],
  ['bad framing', { sources: [{ ...minimal.sources[0], registration: { framing: 'xml' } }] }, /^sources\[0\]\.registration\.framing: expected one of/],
  ['not an object', [], /^\(root\): expected an object, got an array/],
  ['lqServer source unknown', { ...minimal, lqServer: { port: 7628, sources: ['zz'] } }, /^lqServer\.sources\[0\]: expected the id of a configured source/],
]
for (const [name, raw, re] of bad) {
  t.test(`invalid: ${name}`, async (t) => {
    let err: unknown
    try {
      parseConfig(raw)
    } catch (e) {
      err = e
    }
    t.type(err, ConfigError)
    t.match((err as Error).message, re)
  })
}

t.test('a public host is allowed with a token', async (t) => {
  t.equal(parseConfig({ api: { host: '0.0.0.0', token: 'x'.repeat(32) } }).api.host, '0.0.0.0')
})

t.test('loadConfig names the file problem', async (t) => {
  const dir = t.testdir({ 'bad.json': '{ "api": ', 'ok.json': JSON.stringify(minimal) })
  await t.rejects(loadConfig(join(dir, 'missing.json')), /expected a readable config file .*ENOENT/)
  await t.rejects(loadConfig(join(dir, 'bad.json')), /expected valid JSON/)
  t.equal((await loadConfig(join(dir, 'ok.json'))).sources.length, 1)
  writeFileSync(join(dir, 'x.json'), '{"sources":[{"id":"a","type":"lq-socket","host":"h","oper":"1","reconnectSeconds":-1}]}')
  await t.rejects(loadConfig(join(dir, 'x.json')), /sources\[0\]\.reconnectSeconds: expected a number from 0\.01 to 3600, got number -1/)
})

t.test('prototype names are unknown keys, never lookups on Object.prototype', async (t) => {
  const src = minimal.sources[0]!
  for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    // JSON.parse, as loadConfig does: "__proto__" is then an own key, as in a file
    const cases: [string, string, RegExp][] = [
      ['top level', `{"${key}": {}}`, new RegExp(`^${key}: expected no such key \\(known here: api, log`)],
      ['in api', `{"api": {"${key}": 1}}`, new RegExp(`^api\\.${key}: expected no such key \\(known here: host, port`)],
      ['in a source', `{"sources": [${JSON.stringify({ ...src, [key]: 'x' })}]}`, new RegExp(`^sources\\[0\\]\\.${key}: expected no such key`)],
      ['in a nested source object', `{"sources": [${JSON.stringify({ ...src, registration: { [key]: 'x' } })}]}`, new RegExp(`^sources\\[0\\]\\.registration\\.${key}: expected no such key`)],
      ['as a union tag', `{"sources": [${JSON.stringify({ ...src, type: key })}]}`, /^sources\[0\]\.type: expected one of "lq-socket"/],
      ['as a boxes.names key', `{"boxes": {"names": {"${key}": "front desk"}}}`, new RegExp(`^boxes\\.names\\.${key}: expected a (key that is not a name of Object.prototype|MAC address as the key)`)],
      [
        'as a webhook header',
        `{"webhooks": [{"url": "http://127.0.0.1:9/h", "headers": {"${key}": "v"}}]}`,
        new RegExp(`^webhooks\\[0\\]\\.headers\\.${key}: expected a key that is not a name of Object\\.prototype`),
      ],
    ]
    for (const [where, text, re] of cases) {
      let err: unknown
      try {
        parseConfig(JSON.parse(text))
      } catch (e) {
        err = e
      }
      t.type(err, ConfigError, `${key} ${where}`)
      t.match((err as Error)?.message, re, `${key} ${where}`)
    }
  }
  t.ok(parseConfig({ webhooks: [{ url: 'http://127.0.0.1:9/h', headers: { 'X-Token': 'v' } }] }), 'an ordinary header name is fine')
  // and nothing leaked onto the prototype chain
  t.equal(({} as Record<string, unknown>).polluted, undefined)
  t.equal(typeof Object.prototype.toString, 'function')
})
