import type { Schema } from '../schema.js'

/** STUB (skeleton, owner: webhooks helper): one entry of the top-level `webhooks` list. */
export interface WebhookConfig {
  url: string
}

export const webhooksSchema: Schema = {
  type: 'array',
  default: [],
  items: { type: 'object', properties: { url: { type: 'string', minLength: 1 } } },
}
