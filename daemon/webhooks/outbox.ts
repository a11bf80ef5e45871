import type { EventBus } from '../events.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { WebhookConfig } from './config.js'

/** STUB (skeleton, owner: webhooks helper): durable outbox fed from bus events, delivered in order with retry. */
export class WebhookOutbox {
  constructor(readonly deps: { dataDir: string; hooks: readonly WebhookConfig[]; log: Logger; bus: EventBus; metrics: Metrics }) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}
