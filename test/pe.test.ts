import t from 'tap'
import { mkdtemp, mkdir, rm, writeFile, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkLibrary, inspectLibrary, LibraryCheckError } from '../native/lclient/index.js'
import { buildDoubleOrSkip } from '../native/test-double/build.js'
import { prng } from '../protocols/testing/chunks.js'

const dir = await mkdtemp(join(tmpdir(), 'tb-pe-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))

/** A minimal PE image header as linkers write it: DOS stub, e_lfanew, PE\0\0, COFF header, optional-header magic. */
function peHeader(opts: { machine: number; dll?: boolean; lfanew?: number; magic?: number; signature?: string }): Buffer {
  const lfanew = opts.lfanew ?? 0x80
  const b = Buffer.alloc(lfanew + 24 + 224)
  b.write('MZ', 0, 'latin1')
  b.writeUInt32LE(lfanew, 0x3c)
  b.write(opts.signature ?? 'PE\0\0', lfanew, 'latin1')
  b.writeUInt16LE(opts.machine, lfanew + 4)
  b.writeUInt16LE(1, lfanew + 6) // sections
  b.writeUInt16LE(224, lfanew + 20) // optional header size
  b.writeUInt16LE(0x0102 | (opts.dll === false ? 0 : 0x2000), lfanew + 22) // executable, 32-bit machine, DLL
  b.writeUInt16LE(opts.magic ?? (opts.machine === 0x14c ? 0x10b : 0x20b), lfanew + 24)
  return b
}

let n = 0
async function file(bytes: Buffer, name = `f${n++}.dll`): Promise<string> {
  const p = join(dir, name)
  await writeFile(p, bytes)
  return p
}

async function failure(p: Promise<unknown>): Promise<LibraryCheckError> {
  try {
    await p
  } catch (err) {
    if (err instanceof LibraryCheckError) return err
    throw err
  }
  throw new Error('expected a LibraryCheckError')
}

t.test('a 32-bit DLL under 64-bit Node on Windows: the documented message', async (t) => {
  const p = await file(peHeader({ machine: 0x14c }), 'LClient.dll')
  const e = await failure(checkLibrary(p, 'x64', 'win32'))
  t.equal(e.code, 'WRONG_ARCH')
  t.equal(
    e.message,
    `${p} is a 32-bit (x86) DLL, but this Node is 64-bit (x64): a 64-bit (x64) process cannot load a 32-bit (x86) DLL. ` +
      `A 32-bit (x86) DLL needs 32-bit (x86) Node; install the x86 Node build (Node 22 LTS, the last line with 32-bit Windows builds: nodejs.org, Windows x86 installer) and run npm ci with it so koffi's win32-ia32 package is installed. ` +
      'The lq-socket source works without the DLL (it speaks the LQ-Connect protocol to the LQ server directly on port 7628).',
  )
  const info = await inspectLibrary(p)
  t.same(info, { format: 'pe', machine: 0x14c, arch: 'ia32', bits: 32, dll: true })
  t.same(await checkLibrary(p, 'ia32', 'win32'), info, 'the same DLL passes under 32-bit Node')
})

t.test('the other mismatches name the Node build they need', async (t) => {
  const x64 = await file(peHeader({ machine: 0x8664 }))
  const arm = await file(peHeader({ machine: 0xaa64 }))
  let e = await failure(checkLibrary(x64, 'ia32', 'win32'))
  t.match(e.message, /is a 64-bit \(x64\) DLL, but this Node is 32-bit \(x86\).*needs 64-bit \(x64\) Node; install the x64 Node build .* koffi's win32-x64 package/)
  t.match(e.message, /lq-socket source works without the DLL/)
  e = await failure(checkLibrary(arm, 'x64', 'win32'))
  t.match(e.message, /is a ARM64 DLL, but this Node is 64-bit \(x64\).*install the ARM64 Node build.*win32-arm64/)
  e = await failure(checkLibrary(x64, 'arm64', 'win32'))
  t.match(e.message, /needs 64-bit \(x64\) Node/)
  t.equal((await checkLibrary(x64, 'x64', 'win32')).format, 'pe')
  t.equal((await checkLibrary(arm, 'arm64', 'win32')).format, 'pe')
  const odd = await file(peHeader({ machine: 0x1234 }))
  e = await failure(checkLibrary(odd, 'x64', 'win32'))
  t.match(e, { code: 'WRONG_ARCH', message: /unknown machine type 0x1234/ })
})

t.test('a Windows DLL on Linux, and an .exe instead of a DLL', async (t) => {
  const dll = await file(peHeader({ machine: 0x8664 }))
  const e = await failure(checkLibrary(dll, 'x64', 'linux'))
  t.match(e, { code: 'WRONG_OS', message: /is a Windows DLL; it can only be loaded on Windows \(this is linux\)\. The lq-socket source works without the DLL/ })
  const exe = await file(peHeader({ machine: 0x14c, dll: false }), 'LClient.exe')
  t.match(await failure(checkLibrary(exe, 'ia32', 'win32')), { code: 'NOT_A_LIBRARY', message: /is a Windows program \(\.exe\), not a DLL/ })
})

t.test('unreadable, truncated and garbage files get specific errors', async (t) => {
  t.match(await failure(inspectLibrary(join(dir, 'missing.dll'))), { code: 'UNREADABLE', message: /cannot read .*missing\.dll: no such file/ })
  const sub = join(dir, 'adir.dll')
  await mkdir(sub)
  t.match(await failure(inspectLibrary(sub)), { code: 'UNREADABLE', message: /it is a directory/ })
  if (process.getuid?.() !== 0) {
    const locked = await file(peHeader({ machine: 0x14c }))
    await chmod(locked, 0)
    t.match(await failure(inspectLibrary(locked)), { code: 'UNREADABLE', message: /permission denied/ })
  }
  t.match(await failure(inspectLibrary(await file(Buffer.alloc(0)))), { code: 'TRUNCATED', message: /is empty/ })
  t.match(await failure(inspectLibrary(await file(Buffer.from('MZ\x90\x00', 'latin1')))), { code: 'TRUNCATED', message: /4 bytes, shorter than the 64-byte DOS header/ })
  const short = peHeader({ machine: 0x14c }).subarray(0, 0x80 + 10)
  t.match(await failure(inspectLibrary(await file(short))), { code: 'TRUNCATED', message: /ends inside the PE header at byte 138/ })
  const far = peHeader({ machine: 0x14c })
  far.writeUInt32LE(0x7fffffff, 0x3c)
  t.match(await failure(inspectLibrary(await file(far))), { code: 'BAD_PE_HEADER', message: /no valid PE header offset \(e_lfanew = 0x7fffffff\)/ })
  const inStub = peHeader({ machine: 0x14c })
  inStub.writeUInt32LE(0x10, 0x3c)
  t.match(await failure(inspectLibrary(await file(inStub))), { code: 'BAD_PE_HEADER' })
  const nosig = peHeader({ machine: 0x14c, signature: 'NE\0\0' })
  t.match(await failure(inspectLibrary(await file(nosig))), { code: 'BAD_PE_HEADER', message: /no "PE\\0\\0" signature at offset 0x80 \(found 4e450000\)/ })
  t.match(await failure(inspectLibrary(await file(Buffer.from('this is a text file, not a DLL\n')))), { code: 'NOT_A_LIBRARY', message: /starts with bytes 7468697320697320, expected "MZ"/ })
  const badElf = Buffer.alloc(64)
  badElf.write('\x7fELF', 0, 'latin1')
  badElf[4] = 9
  t.match(await failure(inspectLibrary(await file(badElf))), { code: 'NOT_A_LIBRARY', message: /invalid class/ })
})

t.test('every truncation of a valid header, and random bytes, give a LibraryCheckError or a result, nothing else', async (t) => {
  const full = peHeader({ machine: 0x14c })
  const codes = new Set<string>()
  for (let len = 0; len <= 0x80 + 26; len++) {
    const p = await file(full.subarray(0, len), `cut.dll`)
    try {
      const info = await inspectLibrary(p)
      t.ok(len >= 0x80 + 24, `a result only once the COFF header is complete (len ${len})`)
      t.equal(info.format, 'pe')
    } catch (err) {
      t.ok(err instanceof LibraryCheckError, `len ${len}: ${(err as Error).message}`)
      codes.add((err as LibraryCheckError).code)
    }
  }
  t.same([...codes].sort(), ['NOT_A_LIBRARY', 'TRUNCATED'], 'a cut file is truncated (or, at one byte, no DLL at all)')
  const rnd = prng(7)
  for (let i = 0; i < 300; i++) {
    const b = Buffer.alloc(Math.floor(rnd() * 400))
    for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256)
    if (i % 3 === 0 && b.length >= 2) b.write('MZ', 0, 'latin1')
    if (i % 3 === 1 && b.length >= 4) b.write('\x7fELF', 0, 'latin1')
    const p = await file(b, 'rnd.dll')
    try {
      await checkLibrary(p, 'x64', i % 2 ? 'win32' : 'linux')
    } catch (err) {
      if (!(err instanceof LibraryCheckError)) t.fail(`random file ${i}: ${(err as Error).stack}`)
    }
  }
  t.pass('300 random headers')
})

t.test('ELF: the compiled test double passes here; another machine is refused', async (t) => {
  // no compiler here (test/prepare.sh installs gcc, libc6-dev)
  const { lib, noCompiler } = await buildDoubleOrSkip(dir)
  if (noCompiler) return t.skip(noCompiler)
  const info = await checkLibrary(lib)
  t.match(info, { format: 'elf', arch: process.arch })
  const elf = Buffer.alloc(64)
  elf.write('\x7fELF', 0, 'latin1')
  elf[4] = 2
  elf[5] = 1
  elf.writeUInt16LE(process.arch === 'arm64' ? 62 : 183, 18)
  const other = await file(elf, 'libother.so')
  const e = await failure(checkLibrary(other, process.arch, 'linux'))
  t.equal(e.code, 'WRONG_ARCH')
  t.match(e.message, /library, but this Node is .* cannot load/)
  t.match(e.message, /lq-socket source works without the DLL/)
  t.match(await failure(checkLibrary(lib, 'x64', 'win32')), { code: 'WRONG_OS', message: /ELF shared library/ })
})
