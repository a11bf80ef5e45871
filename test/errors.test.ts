import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ERRORS, ApiError } from '../daemon/core/errors.js'

t.test('every error code is documented in docs/errors.md with its status', async (t) => {
  const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'errors.md'), 'utf8')
  for (const [code, def] of Object.entries(ERRORS)) {
    t.match(doc, new RegExp(`\\| \`${code}\` \\| ${def.status} \\|`), code)
  }
})

t.test('ApiError fills its template', async (t) => {
  const e = new ApiError('BAD_QUERY', 'limit', 'expected a whole number')
  t.equal(e.message, 'invalid query parameter limit: expected a whole number')
  t.same(e.toJSON(), { error: { code: 'BAD_QUERY', message: e.message } })
  t.equal(e.status, 400)
})
