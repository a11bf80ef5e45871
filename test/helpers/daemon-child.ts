// A daemon in its own process, for tests that kill it: `node --import tsx daemon-child.ts <config.json>`.
// Prints one JSON line {apiUrl, ingestUrl} once it listens.
import { readFileSync } from 'node:fs'
import { pino } from 'pino'
import { parseConfig } from '../../daemon/config.js'
import { Daemon } from '../../daemon/daemon.js'

const config = parseConfig(JSON.parse(readFileSync(process.argv[2]!, 'utf8')))
const daemon = new Daemon(config, { log: pino({ level: process.env.TB_TEST_LOG ?? 'silent' }, pino.destination(2)) })
const { apiUrl, ingestUrl } = await daemon.start()
process.stdout.write(JSON.stringify({ apiUrl, ingestUrl }) + '\n')
process.on('SIGTERM', () => void daemon.stop().then(() => process.exit(0)))
