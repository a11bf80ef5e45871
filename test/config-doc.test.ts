import t from 'tap'
import { configSchema } from '../daemon/config.js'
import type { Schema } from '../daemon/core/schema.js'

/** Every key of the config (sources of every type included) has a one-line `doc` for the configuration reference. */
t.test('every config key has a one-line doc', async (t) => {
  const missing: string[] = []
  let keys = 0
  const walk = (s: Schema, path: string): void => {
    if (s.type === 'object') {
      for (const [k, sub] of Object.entries(s.properties)) {
        const p = path ? `${path}.${k}` : k
        keys++
        if (!sub.doc && !(sub.type === 'union')) missing.push(p)
        else if (sub.doc && /\n/.test(sub.doc)) missing.push(`${p} (more than one line)`)
        walk(sub, p)
      }
    } else if (s.type === 'array') walk(s.items, `${path}[]`)
    else if (s.type === 'record') walk(s.values, `${path}.<key>`)
    else if (s.type === 'union') for (const [tag, v] of Object.entries(s.variants)) walk(v, `${path}(${tag})`)
  }
  walk(configSchema, '')
  t.ok(keys > 150, `${keys} keys walked`)
  t.same(missing, [])
})
