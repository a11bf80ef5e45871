/**
 * The LClient.dll path, with the C test double (native/test-double) compiled by the system cc:
 *
 *  - LClientRcv calls/s answering -100, through the host process (one IPC round trip each), and
 *    the baseline in the same run: the same function called by koffi in this process (what a
 *    host-less binding would cost). The ratio is the price of crash isolation and killable calls.
 *  - pops/s from the DLL to the event bus: an lq-dll source in a real Daemon, the double handing out
 *    20,000 t1v5 pops back to back; counted on the bus in-process from the first to the last pop.
 * Each rate: the median of 5 rounds of ≥ 300 ms (after 1 warm-up round), with the spread.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import koffi from 'koffi'
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { LClient, gbkz } from '../native/lclient/index.js'
import { buildDouble, writeScript } from '../native/test-double/build.js'
import { finish, int, median, report, say } from './common.js'

const BENCH = 'lq-dll'
/** thrown to leave the bench when it cannot run (reported as skipped) */
const SKIPPED = new Error('skipped')
const dir = await mkdtemp(join(tmpdir(), 'tb-bench-dll-'))
try {
  let lib: string
  try {
    lib = await buildDouble(dir)
  } catch (err) {
    say(`  skipped: ${(err as Error).message}`)
    report({ bench: BENCH, metric: 'LClientRcv calls/s via host process', value: NaN, unit: 'calls/s' })
    throw SKIPPED
  }

  async function rounds(fn: () => Promise<number> | number): Promise<{ med: number; lo: number; hi: number }> {
    const rates: number[] = []
    for (let r = 0; r < 6; r++) {
      const t0 = performance.now()
      let ops = 0
      while (performance.now() - t0 < 300) ops += await fn()
      if (r > 0) rates.push((ops * 1000) / (performance.now() - t0))
    }
    return { med: median(rates), lo: Math.min(...rates), hi: Math.max(...rates) }
  }
  const spread = (x: { lo: number; hi: number }) => `spread ${int(x.lo)}–${int(x.hi)}`

  // -- calls/s ------------------------------------------------------------------------------------
  const empty = await writeScript(join(dir, 'empty.txt'), ['# nothing: every receive answers -100'])
  const c = await LClient.open({ library: lib })
  await c.start({ host: empty, port: '7628', oper: '801', ch: '-1' })
  const viaHost = await rounds(async () => {
    for (let i = 0; i < 100; i++) await c.rcv()
    return 100
  })
  await c.close()
  const direct = koffi.load(lib)
  const start = direct.func('LClientStart', 'int', ['void *', 'void *', 'void *', 'void *', 'int'])
  const rcv = direct.func('LClientRcv', 'int', ['void *'])
  start(gbkz(empty), gbkz('7628'), gbkz('801'), gbkz('-1'), 0)
  const buf = Buffer.alloc(4096 + 64)
  const inProcess = await rounds(() => {
    for (let i = 0; i < 1000; i++) {
      buf.fill(0)
      rcv(buf)
    }
    return 1000
  })
  report({ bench: BENCH, metric: 'LClientRcv calls/s via host process', value: viaHost.med, unit: 'calls/s', note: spread(viaHost) })
  report({
    bench: BENCH,
    metric: 'LClientRcv calls/s in-process (baseline)',
    value: inProcess.med,
    unit: 'calls/s',
    note: `${spread(inProcess)}; ${(inProcess.med / viaHost.med).toFixed(0)}× the host path`,
  })

  // -- pops/s to the bus --------------------------------------------------------------------------
  const N = 20_000
  const go = join(dir, 'go')
  const pops = Array.from(
    { length: N },
    (_, i) => `pop H=t1v5,ch=${(i % 64) + 1},ph=139${String(i).padStart(8, '0')},ty=1,tm=081123101500,op=801,sn=${i},so=0,mb=2001,da=城市:南京|会员等级:金卡,dm=1;`,
  )
  const script = await writeScript(join(dir, 'pops.txt'), [`gate ${go}`, ...pops])
  const config = parseConfig({ timeZone: 'Asia/Shanghai', api: { port: 0 }, sources: [{ id: 'dll', type: 'lq-dll', library: lib, host: script, oper: '801' }] })
  const daemon = new Daemon(config, { log: pino({ level: 'silent' }) })
  await daemon.start()
  while (daemon.sources.get('dll')!.status !== 'connected') await new Promise((r) => setTimeout(r, 10))
  let seen = 0
  let first = 0
  let last = 0
  const done = new Promise<void>((resolve) =>
    daemon.bus.subscribe((e: { type: string }) => {
      if (e.type !== 'pop') return
      if (seen++ === 0) first = performance.now()
      last = performance.now()
      if (seen === N) resolve()
    }),
  )
  await writeFile(go, '')
  const timeout = setTimeout(() => {
    say(`  only ${seen} of ${N} pops within 120 s`)
    process.exit(1)
  }, 120_000)
  await done
  clearTimeout(timeout)
  await daemon.stop()
  report({ bench: BENCH, metric: `pops/s DLL → event bus (${int(N)} pops)`, value: ((N - 1) * 1000) / (last - first), unit: 'pops/s', note: 'one run' })
} catch (err) {
  if (err !== SKIPPED) throw err
} finally {
  await rm(dir, { recursive: true, force: true })
}
finish()
