import { open } from 'node:fs/promises'

/**
 * What kind of library a file is, read from its header before anything loads it. A process can
 * only load a library built for its own architecture; Windows says no more than "%1 is not a
 * valid Win32 application" (error 193), so we look first and say what to do instead.
 */
export type LibraryInfo =
  { format: 'pe'; machine: number; arch: string | null; bits: 32 | 64 | null; dll: boolean } | { format: 'elf'; machine: number; arch: string | null; bits: 32 | 64 } | { format: 'mach-o' }

export type LibraryCheckCode = 'UNREADABLE' | 'TRUNCATED' | 'NOT_A_LIBRARY' | 'BAD_PE_HEADER' | 'WRONG_ARCH' | 'WRONG_OS'

export class LibraryCheckError extends Error {
  constructor(
    readonly code: LibraryCheckCode,
    message: string,
    readonly file: string,
  ) {
    super(message)
    this.name = 'LibraryCheckError'
  }
}

/** PE machine types (IMAGE_FILE_MACHINE_*) → Node's process.arch */
const PE_MACHINES: Record<number, string> = { 0x14c: 'ia32', 0x8664: 'x64', 0xaa64: 'arm64', 0x1c4: 'arm' }
/** ELF e_machine → process.arch */
const ELF_MACHINES: Record<number, string> = { 3: 'ia32', 62: 'x64', 183: 'arm64', 40: 'arm', 243: 'riscv64', 8: 'mips', 21: 'ppc64', 22: 's390x', 258: 'loong64' }

const ARCH_TEXT: Record<string, string> = { ia32: '32-bit (x86)', x64: '64-bit (x64)', arm64: 'ARM64', arm: '32-bit ARM' }
const archText = (a: string) => ARCH_TEXT[a] ?? a
/** the name of Node's Windows download for an arch (nodejs.org: node-vXX-x86.msi, -x64.msi, -arm64.msi) */
const NODE_BUILD: Record<string, string> = { ia32: 'x86', x64: 'x64', arm64: 'ARM64' }
/** which Node line to take: 32-bit Windows builds end with Node 22 (23 and later have none) */
const NODE_LINE: Record<string, string> = { ia32: 'Node 22 LTS, the last line with 32-bit Windows builds: ' }

const SOCKET_HINT = 'The lq-socket source works without the DLL (it speaks the LQ-Connect protocol to the LQ server directly on port 7628).'

const IMAGE_FILE_DLL = 0x2000
/** the PE header sits within the first few KB in every real linker's output; more is a corrupt file */
const MAX_LFANEW = 0x10000

/** Read a library's header. Throws LibraryCheckError for an unreadable, short or unknown file. */
export async function inspectLibrary(file: string): Promise<LibraryInfo> {
  let fh
  try {
    fh = await open(file, 'r')
  } catch (err) {
    throw new LibraryCheckError('UNREADABLE', `cannot read ${file}: ${describeErrno(err)}`, file)
  }
  try {
    const read = async (pos: number, len: number): Promise<Buffer> => {
      const b = Buffer.alloc(len)
      const { bytesRead } = await fh.read(b, 0, len, pos)
      return b.subarray(0, bytesRead)
    }
    let head: Buffer
    try {
      head = await read(0, 64)
    } catch (err) {
      throw new LibraryCheckError('UNREADABLE', `cannot read ${file}: ${describeErrno(err)}`, file)
    }
    if (head.length >= 2 && head[0] === 0x4d && head[1] === 0x5a) return await readPe(file, head, read)
    if (head.length >= 4 && head.readUInt32BE(0) === 0x7f454c46) return readElf(file, head)
    if (head.length >= 4 && [0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe].includes(head.readUInt32BE(0))) return { format: 'mach-o' }
    if (head.length === 0) throw new LibraryCheckError('TRUNCATED', `${file} is empty, not a DLL`, file)
    throw new LibraryCheckError('NOT_A_LIBRARY', `${file} is not a DLL or shared library (it starts with bytes ${head.subarray(0, 8).toString('hex')}, expected "MZ")`, file)
  } finally {
    await fh.close()
  }
}

async function readPe(file: string, head: Buffer, read: (pos: number, len: number) => Promise<Buffer>): Promise<LibraryInfo> {
  if (head.length < 64) throw new LibraryCheckError('TRUNCATED', `${file} is truncated: ${head.length} bytes, shorter than the 64-byte DOS header of a DLL`, file)
  const lfanew = head.readUInt32LE(0x3c)
  if (lfanew < 64 || lfanew > MAX_LFANEW) {
    throw new LibraryCheckError('BAD_PE_HEADER', `${file} has a DOS header but no valid PE header offset (e_lfanew = 0x${lfanew.toString(16)}); the file is damaged or not a DLL`, file)
  }
  // signature (4) + COFF header (20) + optional header magic (2)
  const pe = await read(lfanew, 26)
  if (pe.length < 24) throw new LibraryCheckError('TRUNCATED', `${file} is truncated: it ends inside the PE header at byte ${lfanew + pe.length}`, file)
  if (pe.readUInt32BE(0) !== 0x50450000) {
    throw new LibraryCheckError(
      'BAD_PE_HEADER',
      `${file} has no "PE\\0\\0" signature at offset 0x${lfanew.toString(16)} (found ${pe.subarray(0, 4).toString('hex')}); it is a DOS program or a damaged file, not a DLL`,
      file,
    )
  }
  const machine = pe.readUInt16LE(4)
  const characteristics = pe.readUInt16LE(22)
  const magic = pe.length >= 26 ? pe.readUInt16LE(24) : 0
  return {
    format: 'pe',
    machine,
    arch: PE_MACHINES[machine] ?? null,
    bits: magic === 0x10b ? 32 : magic === 0x20b ? 64 : null,
    dll: (characteristics & IMAGE_FILE_DLL) !== 0,
  }
}

function readElf(file: string, head: Buffer): LibraryInfo {
  if (head.length < 20) throw new LibraryCheckError('TRUNCATED', `${file} is truncated: ${head.length} bytes, shorter than an ELF header`, file)
  const cls = head[4]
  const data = head[5]
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) throw new LibraryCheckError('NOT_A_LIBRARY', `${file} has an ELF signature but an invalid class/byte order (${cls}/${data})`, file)
  const machine = data === 1 ? head.readUInt16LE(18) : head.readUInt16BE(18)
  const bits = cls === 1 ? 32 : 64
  let arch = ELF_MACHINES[machine] ?? null
  if (arch === 'ppc64' && bits === 32) arch = 'ppc'
  return { format: 'elf', machine, arch, bits }
}

/**
 * Throw a LibraryCheckError unless this process (arch, platform) can load the library. The message
 * says which Node build is needed; a Mach-O file and unknown ELF machines are left to the loader.
 */
export function checkLoadable(file: string, info: LibraryInfo, arch: string = process.arch, platform: string = process.platform): void {
  if (info.format === 'pe') {
    if (platform !== 'win32') {
      throw new LibraryCheckError('WRONG_OS', `${file} is a Windows DLL; it can only be loaded on Windows (this is ${platform}). ${SOCKET_HINT}`, file)
    }
    if (!info.dll) throw new LibraryCheckError('NOT_A_LIBRARY', `${file} is a Windows program (.exe), not a DLL`, file)
    if (info.arch === null) {
      throw new LibraryCheckError(
        'WRONG_ARCH',
        `${file} is a DLL for an unknown machine type 0x${info.machine.toString(16)}; this Node is ${archText(arch)} and can only load ${archText(arch)} DLLs. ${SOCKET_HINT}`,
        file,
      )
    }
    if (info.arch !== arch) throw new LibraryCheckError('WRONG_ARCH', mismatch(file, 'DLL', info.arch, arch, 'win32'), file)
    return
  }
  if (info.format === 'elf') {
    if (platform === 'win32' || platform === 'darwin')
      throw new LibraryCheckError('WRONG_OS', `${file} is an ELF shared library (Linux/Unix); it cannot be loaded on ${platform}. ${SOCKET_HINT}`, file)
    if (info.arch !== null && info.arch !== arch) throw new LibraryCheckError('WRONG_ARCH', mismatch(file, 'library', info.arch, arch, platform), file)
  }
}

function mismatch(file: string, what: string, lib: string, node: string, platform: string): string {
  const build = NODE_BUILD[lib]
  const install =
    platform === 'win32' && build
      ? `install the ${build} Node build (${NODE_LINE[lib] ?? ''}nodejs.org, Windows ${build} installer) and run npm ci with it so koffi's win32-${lib} package is installed`
      : `run telbridge with a Node built for ${lib} (and npm ci with it so koffi's ${platform}-${lib} package is installed)`
  return (
    `${file} is a ${archText(lib)} ${what}, but this Node is ${archText(node)}: a ${archText(node)} process cannot load a ${archText(lib)} ${what}. ` +
    `A ${archText(lib)} ${what} needs ${archText(lib)} Node; ${install}. ${SOCKET_HINT}`
  )
}

function describeErrno(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  switch (e.code) {
    case 'ENOENT':
      return 'no such file'
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (the service account must be able to read it)'
    case 'EISDIR':
      return 'it is a directory, not a file'
    default:
      return e.code ? `${e.code} ${e.message}` : String(err)
  }
}

/** Inspect and check in one step; returns what was found (for the source's status detail). */
export async function checkLibrary(file: string, arch: string = process.arch, platform: string = process.platform): Promise<LibraryInfo> {
  const info = await inspectLibrary(file)
  checkLoadable(file, info, arch, platform)
  return info
}
