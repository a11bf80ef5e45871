import { BaseSource, type SourceContext } from './source.js'
import type { GuoxinConfig } from './guoxin-config.js'

/** STUB (skeleton): replaced by the real adapter. */
export class GuoxinSource extends BaseSource {
  readonly type = 'guoxin'
  constructor(
    readonly cfg: GuoxinConfig,
    ctx: SourceContext,
  ) {
    super(cfg.id, ctx)
  }
  start(): void {
    this.setStatus('failed', 'not implemented yet')
  }
  async stop(): Promise<void> {
    this.setStatus('stopped')
  }
}
