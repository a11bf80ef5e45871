import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { importCycles, importGraph, layerOf, layerViolations } from './helpers/layers.js'

const ROOT = join(import.meta.dirname, '..')

t.test('the product code keeps its layers', async (t) => {
  const { files, edges } = importGraph(ROOT)
  t.ok(files.length > 100 && edges.length > 300, `the graph was read (${files.length} files, ${edges.length} imports)`)
  t.same(layerViolations(ROOT), [], 'no import crosses a layer the wrong way')
})

t.test('there are no import cycles', async (t) => {
  t.same(importCycles(ROOT), [])
})

t.test('every product file is in a layer', async (t) => {
  const { files } = importGraph(ROOT)
  t.same(
    files.filter((f) => !layerOf(f)),
    [],
  )
})

/** A small tree with the given files (path → source). */
function tree(t: Tap.Test, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'telbridge-layers-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(dir, dirname(p)), { recursive: true })
    writeFileSync(join(dir, p), text)
  }
  return dir
}

t.test('the check fails on a wrong import and on a cycle', async (t) => {
  const dir = tree(t, {
    'protocols/x/codec.ts': `import { Source } from '../../daemon/core/source.js'\nexport const a = 1\n`,
    'daemon/core/source.ts': `export class Source {}\n`,
    'daemon/core/table.ts': `import type { Hub } from '../../devices/800hu/hub.js'\nexport const t = 1\n`,
    'daemon/vendors/guoxin/source.ts': `import { y } from '../yantong/source.js'\nimport { MODULES } from '../../registry.js'\nexport const g = import('../lq-vack/source.js')\n`,
    'daemon/vendors/yantong/source.ts': `import { Source } from '../../core/source.js'\nexport const y = 1\n`,
    'daemon/vendors/lq-vack/source.ts': `export const l = 1\n`,
    'daemon/registry.ts': `import { g } from './vendors/guoxin/source.js'\nexport const MODULES = []\n`,
    'devices/800hu/hub.ts': `import { a } from '../../protocols/x/codec.js'\nexport class Hub {}\n`,
    'devices/800hu/a.ts': `import { b } from './b.js'\nexport const a = 1\n`,
    'devices/800hu/b.ts': `import { a } from './a.js'\nexport const b = 1\n`,
  })
  t.same(layerViolations(dir).sort(), [
    'daemon/core/table.ts (core) imports ../../devices/800hu/hub.js (module:800hu)',
    'daemon/vendors/guoxin/source.ts (module:guoxin) imports ../../registry.js (wiring)',
    'daemon/vendors/guoxin/source.ts (module:guoxin) imports ../lq-vack/source.js (module:lq-vack)',
    'daemon/vendors/guoxin/source.ts (module:guoxin) imports ../yantong/source.js (module:yantong)',
    'protocols/x/codec.ts (protocols) imports ../../daemon/core/source.js (core)',
  ])
  t.same(importCycles(dir).sort(), [
    ['daemon/registry.ts', 'daemon/vendors/guoxin/source.ts'],
    ['devices/800hu/a.ts', 'devices/800hu/b.ts'],
  ])
})
