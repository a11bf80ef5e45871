/**
 * Runs every benchmark, one after the other, each in its own Node process (no shared JIT state,
 * heap or event loop), then prints a summary table and the machine.
 *
 *   npm run bench                 all of them
 *   node dist/bench/run.js codec  only the named ones
 *   node dist/bench/codec.js      one alone
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { aimText, fmtValue, load, machine, meets, type Result } from './common.js'

const BENCHES: { name: string; flags: string[] }[] = [
  { name: 'codec', flags: [] },
  { name: 'e2e', flags: [] },
  { name: 'table', flags: [] },
  { name: 'lq-dll', flags: [] },
  { name: 'control', flags: [] },
  { name: 'vack', flags: [] },
  { name: 'guoxin', flags: [] },
  { name: '800hu', flags: [] },
  { name: 'sse-clients', flags: [] },
  { name: 'cdr', flags: [] },
  { name: 'calls-ingest', flags: [] },
  { name: 'startup', flags: [] },
]

const wanted = process.argv.slice(2)
const unknown = wanted.filter((w) => !BENCHES.some((b) => b.name === w))
if (unknown.length) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}\n`)
  process.exit(2)
}

const all: Result[] = []
const failed: string[] = []
for (const b of BENCHES) {
  if (wanted.length && !wanted.includes(b.name)) continue
  process.stdout.write(`\n── ${b.name} ${'─'.repeat(70 - b.name.length)}\n`)
  const t0 = Date.now()
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [...b.flags, fileURLToPath(new URL(`./${b.name}.js`, import.meta.url))], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    child.on('message', (m: { results?: Result[] }) => {
      if (Array.isArray(m.results)) all.push(...m.results)
    })
    child.on('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1)))
  })
  process.stdout.write(`   (${b.name}: ${((Date.now() - t0) / 1000).toFixed(1)} s${code ? `, EXIT CODE ${code}` : ''})\n`)
  if (code) failed.push(b.name)
}

// ---- summary ----------------------------------------------------------------------------------------
const rows = all.map((r) => {
  const ok = meets(r)
  return [r.bench, r.metric, fmtValue(r.value, r.unit), r.unit, aimText(r.aim, r.unit).replace(/^\(|\)$/g, ''), ok === null ? '' : ok ? 'ok' : 'missed']
})
const head = ['benchmark', 'metric', 'measured', 'unit', 'aim', '']
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
const line = (cells: string[]) =>
  cells
    .map((c, i) => (i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
    .join('  ')
    .trimEnd()
process.stdout.write(`\n── summary ${'─'.repeat(63)}\n`)
process.stdout.write(line(head) + '\n' + widths.map((w) => '─'.repeat(w)).join('  ') + '\n')
let lastBench = ''
for (const r of rows) {
  if (lastBench && r[0] !== lastBench) process.stdout.write('\n')
  lastBench = r[0]!
  process.stdout.write(line(r) + '\n')
}
process.stdout.write(`\n(aims are informational: "missed" does not fail the run)\n`)
if (failed.length) process.stdout.write(`benchmarks that did not finish: ${failed.join(', ')}\n`)
process.stdout.write(`${machine()}; ${load()} at the end\n`)
process.exit(failed.length ? 1 : 0)
