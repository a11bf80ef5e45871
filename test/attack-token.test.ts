import t from 'tap'
import { connect } from 'node:net'
import { boxRig } from './helpers/boxes.js'

/**
 * The bearer-token bypasses tried in the issue 9 attack, as a table. Requests go out as raw bytes,
 * so paths like `/v1/./channels` and `//v1/channels` reach the daemon exactly as written (fetch
 * would normalise them). Each must be refused: 401, or 404 for a path no route serves — never 200
 * with data. `/v1/health` is public by design: a path that only reaches health may answer health.
 */
const TOKEN = 'attack-token-0123456789abcdef'

interface Raw {
  status: number
  body: any
  text: string
}

function get(base: string, path: string, headers: string[] = []): Promise<Raw> {
  const u = new URL(base)
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname)
    let got = ''
    s.setEncoding('latin1')
    s.on('data', (d) => {
      got += d
      // an event stream never ends: the head is enough
      if (/^HTTP\/1\.1 200/.test(got) && /text\/event-stream/.test(got) && got.includes('\r\n\r\n')) s.destroy()
    })
    s.on('close', () => {
      const [head, ...rest] = got.split('\r\n\r\n')
      const text = rest.join('\r\n\r\n')
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {
        // not JSON: body stays the text
      }
      resolve({ status: Number(head!.split(' ')[1]), body, text: got })
    })
    s.on('error', reject)
    s.write([`GET ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...headers, '', ''].join('\r\n'))
  })
}

/** The health answer: public, holds no channel, pop or source detail. */
const isHealth = (r: Raw) => r.status === 200 && r.body?.status === 'ok' && !('channels' in r.body && Array.isArray(r.body.channels))

t.test('with api.token set, every bypass tried in the attack is refused; the real token works', async (t) => {
  const rig = await boxRig({ localApi: { user: 'admin', password: 'secret-pw' } }, { api: { token: TOKEN, loginRateLimit: { max: 100000, windowSeconds: 60 } } }) // the bypass table sends ~100 wrong tokens; the rate limit itself is tested in attack-browser
  t.teardown(() => rig.stop())
  const api = rig.api

  const paths: string[] = [
    '/v1/channels',
    '//v1/channels',
    '/v1/channels/',
    '/v1/./channels',
    '/v1/../v1/channels',
    '/v1/%63hannels',
    '/%761/channels',
    '/V1/channels',
    '/v1/CHANNELS',
    '/v1/channels%00',
    '/v1/channels;x',
    '/v1/health/../channels',
    '/v1/health%2f..%2fchannels',
    '/v1/health%2F..%2Fchannels',
    '/v1/health/..;/channels',
    '/v1/health/',
    '/v1/health;/../channels',
    '/v1/health%3f/../channels',
    '/v1/health#/../channels',
    '/v1/sources',
    '/v1/pops',
    '/v1/events',
    '/v1/devices',
    '/v1/recordings',
    '/metrics',
    '/',
    '/?x=/v1/health',
    'http://127.0.0.1/v1/channels',
    '*',
  ]
  for (const p of paths) {
    const r = await get(api, p)
    t.ok(r.status === 401 || r.status === 404 || r.status === 400, `${p}: refused (${r.status})`)
    t.notOk(r.status === 200, `${p}: never 200`)
  }

  // only health answers, whatever the query carries
  for (const p of ['/v1/health', '/v1/health?x=/../channels', '/v1/health?/../channels', '/v1/health?access_token=wrong']) {
    const r = await get(api, p)
    t.ok(isHealth(r) || r.status === 401 || r.status === 404, `${p}: the health answer or refused (${r.status})`)
  }

  const wrongAuth: [string, string[]][] = [
    ['no header', []],
    ["the token's prefix", [`Authorization: Bearer ${TOKEN.slice(0, -1)}`]],
    ['the token with trailing junk', [`Authorization: Bearer ${TOKEN}x`]],
    ['the token then a space and junk', [`Authorization: Bearer ${TOKEN} x`]],
    ['lower-case bearer', [`Authorization: bearer ${TOKEN}`]],
    ['no scheme', [`Authorization: ${TOKEN}`]],
    ['Basic with the token as password', [`Authorization: Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`]],
    ['Basic with the token', [`Authorization: Basic ${Buffer.from(TOKEN).toString('base64')}`]],
    ['empty Bearer', ['Authorization: Bearer ']],
    ['two headers, the wrong one first', ['Authorization: Bearer wrong', `Authorization: Bearer ${TOKEN}`]],
    ['the token in another header', [`X-Api-Token: ${TOKEN}`, `Cookie: token=${TOKEN}`]],
    ['the token twice in one header', [`Authorization: Bearer ${TOKEN}, Bearer ${TOKEN}`]],
  ]
  for (const [what, headers] of wrongAuth) {
    const r = await get(api, '/v1/channels', headers)
    t.equal(r.status, 401, `${what}: 401`)
    t.equal(r.body?.error?.code, 'UNAUTHORIZED', what)
  }

  const wrongQuery = [
    '?access_token=wrong',
    '?token=',
    '?access_token=',
    `?access_token=${TOKEN.slice(0, -1)}`,
    `?token=${TOKEN}x`,
    `?access_token=wrong&token=${TOKEN}`,
    `?token=${TOKEN}&token=${TOKEN}`,
    `?access_token[]=${TOKEN}`,
    `?ACCESS_TOKEN=${TOKEN}`,
    `?access%5Ftoken=wrong`,
  ]
  for (const q of wrongQuery) {
    for (const p of ['/v1/channels', '/v1/events', '/']) {
      const r = await get(api, p + q)
      t.equal(r.status, 401, `${p}${q}: 401`)
    }
  }

  // the real token works, in each place it is documented
  t.equal((await get(api, '/v1/channels', [`Authorization: Bearer ${TOKEN}`])).status, 200, 'Bearer header')
  t.ok(Array.isArray((await get(api, '/v1/channels', [`Authorization: Bearer ${TOKEN}`])).body.channels), 'with data')
  t.equal((await get(api, `/v1/channels?access_token=${TOKEN}`)).status, 200, '?access_token=')
  t.equal((await get(api, `/?token=${TOKEN}`)).status, 200, 'the page with ?token=')
  t.equal((await get(api, `/metrics`, [`Authorization: Bearer ${TOKEN}`])).status, 200)
  const ev = await get(api, `/v1/events?access_token=${TOKEN}`)
  t.equal(ev.status, 200, 'the event stream with ?access_token=')
  t.equal((await get(api, '/v1/channels', [`Authorization: Bearer ${TOKEN}`, 'X-Other: 1'])).status, 200)
})

t.test('the local 800hu API (/voip/api/jsondata.html) has its own sa_user auth: the bearer token neither opens nor is needed', async (t) => {
  const rig = await boxRig({ localApi: { user: 'admin', password: 'secret-pw' } }, { api: { token: TOKEN, loginRateLimit: { max: 100000, windowSeconds: 60 } } }) // the bypass table sends ~100 wrong tokens; the rate limit itself is tested in attack-browser
  t.teardown(() => rig.stop())
  const md5 = (await import('node:crypto')).createHash('md5').update('secret-pw').digest('hex')
  const list = '/voip/api/jsondata.html?method=systemChannels'
  for (const [what, path, headers] of [
    ['no credentials', list, []],
    ['the bearer token only', list, [`Authorization: Bearer ${TOKEN}`]],
    ['the token as ?access_token', `${list}&access_token=${TOKEN}`, []],
    ['wrong sa_password', `${list}&sa_user=admin&sa_password=${'0'.repeat(32)}`, []],
    ['the plain password', `${list}&sa_user=admin&sa_password=secret-pw`, []],
    ['the token as sa_password', `${list}&sa_user=admin&sa_password=${TOKEN}`, []],
  ] as [string, string, string[]][]) {
    const r = await get(rig.api, path, headers)
    t.equal(r.status, 200, `${what}: the vendor answers HTTP 200`)
    t.equal(r.body.code, -2, `${what}: code -2 (验证错误), no data`)
    t.notOk('data' in r.body || 'channels' in r.body, `${what}: no channel data`)
  }
  const ok = await get(rig.api, `${list}&sa_user=admin&sa_password=${md5}`)
  t.equal(ok.body.code, 0, 'sa_user with the MD5 of the password: served')
})
