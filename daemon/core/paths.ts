import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The package root, found from this module whether it runs compiled (dist/daemon) or from source (daemon). */
export const ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'daemon'))) return dir
    dir = dirname(dir)
  }
  throw new Error('telbridge: cannot find the package root from ' + import.meta.url)
})()
