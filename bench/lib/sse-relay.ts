/**
 * Not a benchmark: the baseline for bench/e2e.ts. The least a pop→SSE bridge can do, in its own
 * process like the daemon: connect to the LQ server, cut frames by their length byte (answering
 * TRY_REQ), pull `sn=` out of each pop, and write ONE small SSE event per pop to every client
 * (the daemon writes two per pop, `channel` and `pop`, with the full parsed record).
 *
 * Usage: node dist/bench/lib/sse-relay.js API_PORT LQ_PORT
 * GET /v1/events is the stream; any other path answers {"sources":{"connected":0|1}}.
 */
import { createServer, type ServerResponse } from 'node:http'
import { connect } from 'node:net'

const apiPort = Number(process.argv[2])
const lqPort = Number(process.argv[3])
const clients = new Set<ServerResponse>()
let connected = 0
let nextId = 1

const server = createServer((req, res) => {
  if (req.url !== '/v1/events') {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ sources: { connected } }))
    return
  }
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' })
  res.socket?.setNoDelay(true)
  res.write('retry: 1000\n\n')
  clients.add(res)
  res.on('close', () => clients.delete(res))
})
server.listen(apiPort, '127.0.0.1')

const TRY_REQ = Buffer.from('TRY_REQ')
const TRY_REP = Buffer.from('TRY_REP')
const sock = connect({ host: '127.0.0.1', port: lqPort, noDelay: true })
sock.on('connect', () => {
  const reg = Buffer.from('oper=801,ch=-1;', 'latin1')
  sock.write(Buffer.concat([Buffer.from([reg.length]), reg]))
  connected = 1
})
let held = Buffer.alloc(0)
sock.on('data', (chunk: Buffer) => {
  const b = held.length ? Buffer.concat([held, chunk]) : chunk
  let i = 0
  while (i < b.length) {
    if (b[i] === 0x54) {
      const m = Math.min(7, b.length - i)
      if (b.compare(TRY_REQ, 0, m, i, i + m) === 0) {
        if (m < 7) break // the rest of TRY_REQ is still to come
        sock.write(TRY_REP)
        i += 7
        continue
      }
    }
    const n = b[i]!
    if (b.length - i < 1 + n) break
    const text = b.toString('latin1', i + 1, i + 1 + n)
    i += 1 + n
    const a = text.indexOf(',sn=')
    const serial = a < 0 ? '' : text.slice(a + 4, text.indexOf(',', a + 4))
    const wire = `id: ${nextId++}\nevent: pop\ndata: {"serial":"${serial}"}\n\n`
    for (const c of clients) c.write(wire)
  }
  held = i < b.length ? Buffer.from(b.subarray(i)) : Buffer.alloc(0)
})
sock.on('error', () => process.exit(1))
sock.on('close', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
