import type { Schema } from '../../daemon/schema.js'

/** STUB (skeleton, owner: boxes helper): keys under top-level `boxes`. */
export interface BoxesConfig {
  /** box MACs allowed to talk to us (any notation; normalised) */
  allow: readonly string[]
  /** accept unknown boxes and add them */
  autoRegister: boolean
  offlineSeconds: number
  longPollSeconds: number
  commandTtlSeconds: number
}

export const boxesSchema: Schema = {
  type: 'object',
  properties: {
    allow: { type: 'array', items: { type: 'string' }, default: [] },
    autoRegister: { type: 'boolean', default: false },
    offlineSeconds: { type: 'number', default: 90, min: 1, max: 86400 },
    longPollSeconds: { type: 'number', default: 25, min: 0.1, max: 300 },
    commandTtlSeconds: { type: 'number', default: 60, min: 1, max: 86400 },
  },
}
