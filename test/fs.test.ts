import t from 'tap'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fsyncDir, fsyncFile, writeAtomic } from '../daemon/core/fs.js'

t.test('writeAtomic: whole file, replaces the old, leaves no temp', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tb-fs-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const f = join(dir, 'cursor')
  await writeAtomic(f, 'one\n')
  t.equal(await readFile(f, 'utf8'), 'one\n')
  await writeAtomic(f, Buffer.from('two\n'), { syncDir: false, mode: 0o600 })
  t.equal(await readFile(f, 'utf8'), 'two\n', 'replaced')
  t.same(await readdir(dir), ['cursor'], 'no temp left')
  await Promise.all(Array.from({ length: 20 }, (_, i) => writeAtomic(f, `v${i}\n`)))
  t.match(await readFile(f, 'utf8'), /^v\d+\n$/, 'concurrent writers: one whole version wins')
  t.same(await readdir(dir), ['cursor'])
  if (process.platform !== 'win32') t.equal((await stat(join(dir, 'cursor'))).size, (await readFile(f)).length)
})

t.test('writeAtomic: a failed write leaves the old file and no temp', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tb-fs-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const f = join(dir, 'x.json')
  await writeAtomic(f, 'old')
  // a directory where the file should go: the rename fails
  await t.rejects(writeAtomic(join(dir), 'new'))
  await t.rejects(writeAtomic(join(dir, 'missing', 'y'), 'new'), { code: 'ENOENT' })
  t.equal(await readFile(f, 'utf8'), 'old')
  t.same(
    (await readdir(dir)).filter((n) => n.endsWith('.tmp')),
    [],
  )
})

t.test('fsyncFile and fsyncDir', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tb-fs-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeAtomic(join(dir, 'a'), 'a')
  await fsyncFile(join(dir, 'a'))
  await fsyncDir(dir)
  await t.rejects(fsyncFile(join(dir, 'nope')), { code: 'ENOENT' })
})
