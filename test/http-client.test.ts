import t from 'tap'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { HttpTimeoutError, HttpUnreachableError, httpRequest, retrying } from '../protocols/http/client.js'

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

t.test('a request answered 421 is sent once (fetch would repeat it)', async (t) => {
  let n = 0
  const { url, server } = await serve((req, res) => {
    n++
    req.resume()
    res.writeHead(421, { 'content-type': 'text/plain; charset=gbk' }).end('需付费开通')
  })
  t.teardown(() => server.close())
  const r = await httpRequest(url, { method: 'POST', body: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded' }, timeoutMs: 2000 })
  t.equal(r.status, 421)
  t.equal(r.headers.get('content-type'), 'text/plain; charset=gbk')
  t.equal(n, 1)
})

t.test('query, POST body and content-length arrive as sent', async (t) => {
  let seen: { url?: string; method?: string; len?: string; body: string } = { body: '' }
  const { url, server } = await serve((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      seen = { url: req.url, method: req.method, len: req.headers['content-length'], body }
      res.end('ok')
    })
  })
  t.teardown(() => server.close())
  const r = await httpRequest(url + '/v', { query: { x: 'a b', skip: undefined }, body: 'k=v', timeoutMs: 2000 })
  t.equal(r.body.toString(), 'ok')
  t.same(seen, { url: '/v?x=a+b', method: 'POST', len: '3', body: 'k=v' })
})

t.test('no answer is a typed timeout; a closed port is unreachable; queries retry only those', async (t) => {
  const { url, server } = await serve(() => {})
  t.teardown(() => server.closeAllConnections() || server.close())
  await t.rejects(httpRequest(url, { timeoutMs: 100 }), HttpTimeoutError)
  const closed = await serve(() => {})
  const closedUrl = closed.url
  await new Promise((r) => closed.server.close(r))
  await t.rejects(httpRequest(closedUrl, { timeoutMs: 1000 }), HttpUnreachableError)
  let tries = 0
  await t.rejects(
    retrying(() => (tries++, httpRequest(closedUrl, { timeoutMs: 1000 })), { attempts: 3, baseMs: 5 }),
    HttpUnreachableError,
  )
  t.equal(tries, 3)
  tries = 0
  await t.rejects(
    retrying(
      async () => {
        tries++
        throw new Error('refused')
      },
      { attempts: 3, baseMs: 5 },
    ),
    /refused/,
  )
  t.equal(tries, 1, 'a non-transport error is not retried')
})

t.test('an abort signal ends the request', async (t) => {
  const { url, server } = await serve(() => {})
  t.teardown(() => server.closeAllConnections() || server.close())
  const ac = new AbortController()
  setTimeout(() => ac.abort(), 50)
  await t.rejects(httpRequest(url, { timeoutMs: 5000, signal: ac.signal }), { name: 'AbortError' })
})
