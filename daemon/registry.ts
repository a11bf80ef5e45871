import type { VendorModule } from './core/module.js'
import { box800huModule } from '../devices/800hu/index.js'
import { guoxinModule } from './vendors/guoxin/index.js'
import { lqDllModule } from './vendors/lq-dll/index.js'
import { lqSocketModule } from './vendors/lq-socket/index.js'
import { lqVackModule } from './vendors/lq-vack/index.js'
import { yantongModule } from './vendors/yantong/index.js'

/**
 * Every vendor module, in the order the demo starts them and `--help` lists them. A new vendor is
 * one line here (docs/adding-a-vendor.md).
 */
export const MODULES: readonly VendorModule[] = [lqSocketModule, lqDllModule, lqVackModule, guoxinModule, yantongModule, box800huModule]

/** The module whose sources have this `type`. */
export function moduleOfType(type: string): VendorModule | undefined {
  return MODULES.find((m) => m.source && m.name === type)
}
