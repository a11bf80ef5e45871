import type { VendorModule } from '../../core/module.js'
import { lqDllSchema, type LqDllConfig } from './config.js'
import { LqDllSource } from './source.js'

/** 小灵呼 LClient.dll (seed 002 ch. 5) through koffi, hosted in a child process. */
export const lqDllModule: VendorModule = {
  name: 'lq-dll',
  summary: '小灵呼 LClient.dll loaded through koffi in a child host process (Windows sites with the vendor DLL)',
  source: { schema: lqDllSchema, create: (c: LqDllConfig, ctx) => new LqDllSource(c, ctx) },
}
