import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import iconv from 'iconv-lite'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)

const HERE = dirname(fileURLToPath(import.meta.url))

/** The C source beside this file, whether it runs from source or compiled (dist/native/test-double). */
export const DOUBLE_SOURCE = [join(HERE, 'lclient_double.c'), join(HERE, '..', '..', '..', 'native', 'test-double', 'lclient_double.c')].find((p) => existsSync(p)) ?? join(HERE, 'lclient_double.c')

/** No C compiler or no C library headers here: tests that need the double skip (test/prepare.sh installs gcc, libc6-dev). */
export class NoToolchain extends Error {
  override name = 'NoToolchain'
}

/** What the double is built for: this system (cc, a `.so`), or Windows with mingw (a `.dll`, `__stdcall` exports with undecorated names). */
export type DoubleTarget = 'native' | 'win-ia32' | 'win-x64'

const MINGW: Record<Exclude<DoubleTarget, 'native'>, { cc: string; pkg: string; name: string }> = {
  'win-ia32': { cc: 'i686-w64-mingw32-gcc', pkg: 'gcc-mingw-w64-i686', name: 'lclient_double_ia32.dll' },
  'win-x64': { cc: 'x86_64-w64-mingw32-gcc', pkg: 'gcc-mingw-w64-x86-64', name: 'lclient_double_x64.dll' },
}

/**
 * Compile the LClient test double into `dir` and return the library's path: with the system C
 * compiler ($CC, else cc) for this system, or with mingw for a Windows target (the same source;
 * libgcc linked in so the DLL needs nothing but Windows' own DLLs). A missing compiler is a
 * NoToolchain error that says what to install.
 */
export async function buildDouble(dir: string, opts: { name?: string; defines?: string[]; target?: DoubleTarget } = {}): Promise<string> {
  const target = opts.target ?? 'native'
  const win = target === 'native' ? null : MINGW[target]
  const out = join(dir, opts.name ?? win?.name ?? 'liblclient_double.so')
  const cc = win ? win.cc : process.env.CC || 'cc'
  const install = win ? `apt-get install ${win.pkg}` : 'apt-get install gcc libc6-dev'
  const flags = win ? ['-shared', '-static-libgcc', '-Wl,--kill-at'] : ['-shared', '-fPIC']
  try {
    await run(cc, [...flags, '-O2', '-Wall', ...(opts.defines ?? []).map((d) => `-D${d}`), '-o', out, DOUBLE_SOURCE])
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string }
    if (e.code === 'ENOENT') {
      throw new NoToolchain(`no C compiler: "${cc}" was not found. The lq-dll tests compile a test double of LClient.dll; install one (Debian/Ubuntu: ${install})`)
    }
    const hint = /No such file|stdio\.h|cannot find -lc/.test(e.stderr ?? '') ? ` (the C library headers are missing: Debian/Ubuntu ${install})` : ''
    if (hint) throw new NoToolchain(`compiling the LClient test double with ${cc} failed${hint}: ${e.stderr || e.message}`)
    throw new Error(`compiling the LClient test double with ${cc} failed${hint}: ${e.stderr || e.message}`)
  }
  return out
}

/**
 * The double built in `dir`, or why it cannot be built here: `noCompiler` is false when `lib` is
 * usable, else the reason for the tests that need it to skip with (other build failures throw).
 */
export async function buildDoubleOrSkip(dir: string): Promise<{ lib: string; noCompiler: false } | { lib: ''; noCompiler: string }> {
  try {
    return { lib: await buildDouble(dir), noCompiler: false }
  } catch (err) {
    if (err instanceof NoToolchain) return { lib: '', noCompiler: err.message }
    throw err
  }
}

/** Write a double's script: one step per line, text encoded as GBK (the DLL's encoding). */
export async function writeScript(file: string, lines: readonly (string | Buffer)[]): Promise<string> {
  const parts = lines.map((l) => Buffer.concat([typeof l === 'string' ? iconv.encode(l, 'gbk') : l, Buffer.from('\n')]))
  await writeFile(file, Buffer.concat(parts))
  return file
}
