import type { Schema } from '../schema.js'
import { guoxinSchema, type GuoxinConfig } from './guoxin-config.js'
import { lqDllSchema, type LqDllConfig } from './lq-dll-config.js'
import { lqSocketSchema, type LqSocketConfig } from './lq-socket-config.js'
import { lqVackSchema, type LqVackConfig } from './lq-vack-config.js'
import { yantongSchema, type YantongConfig } from './yantong-config.js'

/** Config schema per source `type`. Each adapter keeps its keys in its own `*-config.ts`. */
export const SOURCE_SCHEMAS: Record<string, Schema & { type: 'object' }> = {
  'lq-socket': lqSocketSchema,
  'lq-dll': lqDllSchema,
  'lq-vack': lqVackSchema,
  guoxin: guoxinSchema,
  yantong: yantongSchema,
}

export type SourceConfig = LqSocketConfig | LqDllConfig | LqVackConfig | GuoxinConfig | YantongConfig
