import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import ts from 'typescript'

/**
 * The import graph of the product code and the layer rules (docs/architecture.md):
 * - `protocols/` imports only `protocols/` and libraries;
 * - `native/` imports `native/` and `protocols/`;
 * - `daemon/core/` imports `daemon/core/` and `protocols/`;
 * - a vendor module (`daemon/vendors/<v>/`, `devices/<d>/`) imports its own folder, core, protocols
 *   and native — never another module, never the wiring;
 * - the wiring (the rest of `daemon/`: daemon.ts, cli.ts, registry.ts, config.ts, the API) imports anything;
 * and no file reaches itself through its imports (no cycles).
 */

export const PRODUCT_DIRS = ['protocols', 'native', 'daemon', 'devices'] as const

export type Layer = 'protocols' | 'native' | 'core' | 'wiring' | `module:${string}`

export function layerOf(file: string): Layer | null {
  const p = file.split(sep).join('/')
  if (p.startsWith('protocols/')) return 'protocols'
  if (p.startsWith('native/')) return 'native'
  if (p.startsWith('daemon/core/')) return 'core'
  const v = /^daemon\/vendors\/([^/]+)\//.exec(p) ?? /^devices\/([^/]+)\//.exec(p)
  if (v) return `module:${v[1]}`
  if (p.startsWith('daemon/')) return 'wiring'
  return null
}

export function allowed(from: Layer, to: Layer): boolean {
  if (from === 'wiring') return true
  if (to === 'protocols') return true
  if (from === 'protocols') return false
  if (from === 'native') return to === 'native'
  if (from === 'core') return to === 'core'
  // a module
  return to === from || to === 'core' || to === 'native'
}

export interface Edge {
  from: string
  to: string
  /** the specifier as written */
  spec: string
}

function listTs(root: string, dir: string, out: string[]): void {
  let entries
  try {
    entries = readdirSync(join(root, dir), { withFileTypes: true })
  } catch {
    return
  }
  for (const e of entries) {
    const rel = join(dir, e.name)
    if (e.isDirectory()) listTs(root, rel, out)
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel)
  }
}

/** Every relative import (static, re-export, dynamic, type-only) between product files under root. */
export function importGraph(root: string): { files: string[]; edges: Edge[] } {
  const files: string[] = []
  for (const d of PRODUCT_DIRS) listTs(root, d, files)
  const edges: Edge[] = []
  for (const f of files) {
    const info = ts.preProcessFile(readFileSync(join(root, f), 'utf8'), true, true)
    for (const { fileName: spec } of info.importedFiles) {
      if (!spec.startsWith('.')) continue
      const abs = resolve(root, dirname(f), spec).replace(/\.js$/, '.ts')
      edges.push({ from: f, to: relative(root, abs), spec })
    }
  }
  return { files, edges }
}

/** Imports that break a layer rule, as readable lines. */
export function layerViolations(root: string): string[] {
  const { edges } = importGraph(root)
  const out: string[] = []
  for (const e of edges) {
    const a = layerOf(e.from)
    const b = layerOf(e.to)
    if (!a) continue
    if (!b) out.push(`${e.from} imports ${e.spec}: outside the product (${e.to})`)
    else if (!allowed(a, b)) out.push(`${e.from} (${a}) imports ${e.spec} (${b})`)
  }
  return out
}

/** Import cycles (strongly connected components of more than one file, or a file importing itself). */
export function importCycles(root: string): string[][] {
  const { files, edges } = importGraph(root)
  const next = new Map<string, string[]>(files.map((f) => [f, []]))
  for (const e of edges) next.get(e.from)?.push(e.to)
  // Tarjan's algorithm, iterative enough for our depth
  let index = 0
  const idx = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const on = new Set<string>()
  const out: string[][] = []
  const visit = (v: string): void => {
    idx.set(v, index)
    low.set(v, index++)
    stack.push(v)
    on.add(v)
    for (const w of next.get(v) ?? []) {
      if (!next.has(w)) continue
      if (!idx.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!))
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = []
      let w: string
      do {
        w = stack.pop()!
        on.delete(w)
        scc.push(w)
      } while (w !== v)
      if (scc.length > 1 || (next.get(v) ?? []).includes(v)) out.push(scc.sort())
    }
  }
  for (const f of files) if (!idx.has(f)) visit(f)
  return out
}
