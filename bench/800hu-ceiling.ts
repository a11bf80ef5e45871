/**
 * The ceiling for the channelstatus benchmark: a bare fastify route that does only what any server
 * must do with a box's status post — parse the urlencoded body and the `status` JSON in it — and
 * answers in the vendor's shape. No box registry, no channel table, no events.
 * Run by bench/800hu.ts as a child process; sends {port} over IPC once listening.
 */
import Fastify from 'fastify'

const app = Fastify({ logger: false })
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1 << 20 }, (_req, body, done) => {
  const out: Record<string, string> = {}
  for (const [k, v] of new URLSearchParams(body as string)) out[k] = v
  done(null, out)
})
app.post('/upload_record', async (req, reply) => {
  const f = req.body as Record<string, string>
  const status = JSON.parse(f.status ?? '{}') as { channels?: unknown[] }
  if (!f.satellite || !Array.isArray(status.channels)) return reply.code(400).send({ time: String(Date.now()), status: -3 })
  return { time: String(Date.now()), status: 0 }
})
await app.listen({ host: '127.0.0.1', port: Number(process.argv[2] ?? 0) })
const a = app.server.address()
process.send?.({ port: a && typeof a === 'object' ? a.port : 0 })
process.on('disconnect', () => void app.close().then(() => process.exit(0)))
