import t from 'tap'
import { readFileSync, readdirSync, existsSync } from 'node:fs'
import { join, dirname, relative } from 'node:path'
import { configSchema, parseConfig } from '../daemon/config.js'
import type { Schema } from '../daemon/core/schema.js'

// The documentation is checked against the code it describes: the configuration reference against
// the config schemas (every key documented, no key documented that does not exist, defaults and types
// as the schema says), the README's JSON against parseConfig, and every link between the pages.

const root = join(import.meta.dirname, '..')
const read = (rel: string) => readFileSync(join(root, rel), 'utf8')

interface Node {
  schema: Schema
  /** a key a reader sets: a value, not an object of keys or a list of objects */
  leaf: boolean
}

/**
 * Every key path of the config: `api.token`, `webhooks[].url`, and for the `sources` union
 * `sources[<type>].<key>` (e.g. `sources[lq-socket].host`). Lists of values and maps are leaves.
 */
function keyPaths(): Map<string, Node> {
  const out = new Map<string, Node>()
  const walk = (s: Schema, path: string) => {
    if (s.type === 'object') {
      if (path) out.set(path, { schema: s, leaf: false })
      for (const [k, sub] of Object.entries(s.properties)) walk(sub, path ? `${path}.${k}` : k)
    } else if (s.type === 'array' && (s.items.type === 'object' || s.items.type === 'union')) {
      out.set(path, { schema: s, leaf: false })
      if (s.items.type === 'object') walk(s.items, `${path}[]`)
      else for (const [tag, v] of Object.entries(s.items.variants)) for (const [k, sub] of Object.entries(v.properties)) walk(sub, `${path}[${tag}].${k}`)
    } else {
      out.set(path, { schema: s, leaf: true })
    }
  }
  walk(configSchema, '')
  return out
}

/** How docs/configuration.md names a schema type in its "type" column. */
function typeName(s: Schema): string {
  switch (s.type) {
    case 'stringish':
      return 'string or integer'
    case 'array':
      return `list of ${typeName(s.items)}`
    case 'record':
      return `map of ${typeName(s.values)}`
    case 'union':
      return 'object'
    default:
      return s.type
  }
}

/** Cells of a Markdown table row; `\|` inside a cell is a literal bar. */
function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim().replace(/\\\|/g, '|'))
}

interface Row {
  path: string
  type: string
  def: string
  line: number
}

/** Rows of every table headed `| key | type | default | meaning |`. */
function referenceRows(md: string): Row[] {
  const rows: Row[] = []
  const lines = md.split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (!/^\|\s*key\s*\|\s*type\s*\|\s*default\s*\|\s*meaning\s*\|\s*$/.test(lines[i]!)) continue
    for (i += 2; i < lines.length && lines[i]!.startsWith('|'); i++) {
      const [key = '', type = '', def = ''] = cells(lines[i]!)
      const m = /^`([^`]+)`$/.exec(key)
      rows.push({ path: m ? m[1]! : `(not one backticked key: ${key})`, type, def, line: i + 1 })
    }
  }
  return rows
}

/** The value a default cell states: its leading backticked token, read as JSON when it parses. */
function statedDefault(cell: string): { stated: boolean; value?: unknown } {
  const m = /^`([^`]*)`/.exec(cell)
  if (!m) return { stated: false }
  try {
    return { stated: true, value: JSON.parse(m[1]!) }
  } catch {
    return { stated: true, value: m[1] }
  }
}

t.test('docs/configuration.md documents every config key, and only real ones, as the schema says', async (t) => {
  const md = read('docs/configuration.md')
  const paths = keyPaths()
  const rows = referenceRows(md)
  t.ok(rows.length > 100, `the reference tables have rows (${rows.length})`)

  const documented = new Map<string, Row>()
  for (const row of rows) {
    t.notOk(documented.has(row.path), `${row.path} is documented once (line ${row.line})`)
    documented.set(row.path, row)
    const node = paths.get(row.path)
    if (!node) {
      t.fail(`docs/configuration.md:${row.line}: ${row.path} is no key of the config schema`)
      continue
    }
    t.equal(row.type, typeName(node.schema), `${row.path}: type`)
    const { stated, value } = statedDefault(row.def)
    const s = node.schema
    if ('default' in s && s.default !== undefined) {
      t.ok(stated, `${row.path}: the default cell starts with the default in backticks (schema: ${JSON.stringify(s.default)})`)
      if (stated) {
        // a string default may be written bare (`127.0.0.1`) or as JSON ("-1", which JSON would read as a number)
        const got = typeof s.default === 'string' && typeof value !== 'string' ? /^`([^`]*)`/.exec(row.def)![1] : value
        t.same(got, s.default, `${row.path}: documented default equals the schema's`)
      }
    } else {
      t.notOk(stated, `${row.path}: the schema has no default, so the default cell says in words what happens (got ${row.def})`)
    }
  }
  for (const [path, node] of paths) {
    if (node.leaf) t.ok(documented.has(path), `${path} is documented in docs/configuration.md`)
  }
})

/** The ```json blocks of a Markdown text. */
function jsonBlocks(md: string): string[] {
  return [...md.matchAll(/^```json\n([\s\S]*?)^```$/gm)].map((m) => m[1]!)
}

t.test('every JSON block in README.md is a valid config, and one is the real-site example', async (t) => {
  const blocks = jsonBlocks(read('README.md'))
  t.ok(blocks.length >= 1, 'README.md has a JSON config')
  let site = false
  for (const text of blocks) {
    const cfg = parseConfig(JSON.parse(text))
    const boxes = cfg.boxes as { allow: readonly string[]; names: Record<string, string> }
    if (cfg.sources.some((s) => s.type === 'lq-socket') && boxes.allow.length === 2 && Object.keys(boxes.names).length === 2 && cfg.ingest && cfg.api.token) site = true
  }
  t.ok(site, 'one README config combines an lq-socket link, two named 800hu boxes, the ingest listener and a token')
})

t.test('the config examples in docs/ are valid: whole configs, and single sources[] entries', async (t) => {
  const top = new Set(Object.keys((configSchema as { properties: object }).properties))
  let n = 0
  for (const file of markdownFiles(join(root, 'docs'))) {
    for (const text of jsonBlocks(readFileSync(file, 'utf8'))) {
      const value = JSON.parse(text) as Record<string, unknown>
      const name = `${relative(root, file)}: ${text.slice(0, 60).replace(/\s+/g, ' ')}…`
      // a channel or pop shown as the API answers it is no config
      if (typeof value.type === 'string' && typeof value.id === 'string') t.doesNotThrow(() => parseConfig({ sources: [value] }), name)
      else if (Object.keys(value).every((k) => top.has(k))) t.doesNotThrow(() => parseConfig(value), name)
      else continue
      n++
    }
  }
  t.ok(n >= 8, `config examples checked (${n})`)
})

t.test('README.md stays short', async (t) => {
  const lines = read('README.md').split('\n').length
  t.ok(lines <= 300, `README.md has ${lines} lines (at most 300)`)
})

/** GitHub's heading anchors (github-slugger): lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function anchors(md: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  let fence = false
  for (const line of md.split('\n')) {
    if (line.startsWith('```')) fence = !fence
    const m = !fence && /^#{1,6}\s+(.*)$/.exec(line)
    if (!m) continue
    const base = m[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-')
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n ? `${base}-${n}` : base)
  }
  return out
}

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? markdownFiles(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : []))
}

t.test('links between README.md and docs/ point at files and headings that exist', async (t) => {
  const files = [join(root, 'README.md'), ...markdownFiles(join(root, 'docs'))]
  for (const file of files) {
    const md = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```$/gm, '')
    for (const m of md.matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1]!
      if (/^[a-z]+:/.test(link)) continue
      const [target = '', anchor] = link.split('#')
      const path = target ? join(dirname(file), target) : file
      const name = `${relative(root, file)} → ${link}`
      if (!existsSync(path)) {
        t.fail(`${name}: no such file`)
        continue
      }
      if (anchor && path.endsWith('.md')) t.ok(anchors(readFileSync(path, 'utf8')).has(decodeURIComponent(anchor)), `${name}: heading exists`)
    }
  }
})
