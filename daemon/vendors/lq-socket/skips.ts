import type { FrameError } from '../../../protocols/lq-connect/index.js'
import type { EventBus } from '../../core/events.js'
import type { Logger } from '../../core/log.js'

/** Skipped bytes shown in an event or log line, as hex: enough to recognise a framing. */
export const SKIP_HEX_BYTES = 64
/** `frame.invalid` events per source and second; the rest are counted in the next event's `suppressed`. */
export const SKIP_EVENTS_PER_SECOND = 10
/** One warning per source and minute. */
export const SKIP_WARN_MS = 60_000

/**
 * Reports bytes the LQ-Connect decoder skipped, so a site whose server frames differently can see
 * why no pops arrive: one `frame.invalid` event per chunk with skips (at most
 * {@link SKIP_EVENTS_PER_SECOND} a second), one warning a minute. Memory is bounded: counts and
 * at most {@link SKIP_HEX_BYTES} bytes are kept.
 */
export class FrameSkipReporter {
  private bytes = 0
  private codes: Record<string, number> = {}
  private offset = -1
  private sample: Buffer[] = []
  private sampled = 0
  private windowStart = -Infinity
  private inWindow = 0
  private suppressedEvents = 0
  private suppressedBytes = 0
  private lastWarn = -Infinity
  private sinceWarn = 0

  constructor(
    private readonly source: string,
    private readonly bus: EventBus,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** One decoder report; call {@link flush} after the chunk. */
  add(e: FrameError): void {
    if (this.offset < 0) this.offset = e.offset
    this.bytes += e.bytes.length
    this.codes[e.code] = (this.codes[e.code] ?? 0) + e.bytes.length
    if (this.sampled < SKIP_HEX_BYTES) {
      const take = e.bytes.subarray(0, SKIP_HEX_BYTES - this.sampled)
      this.sample.push(take)
      this.sampled += take.length
    }
  }

  /** After a chunk: publish what it skipped (or count it when over the rate) and warn once a minute. */
  flush(): void {
    if (this.bytes === 0) return
    const t = this.now()
    const hex = Buffer.concat(this.sample).toString('hex')
    const data = {
      source: this.source,
      skipped: this.bytes,
      codes: this.codes,
      offset: this.offset,
      hex,
      truncated: this.bytes > this.sampled,
      suppressed: { events: this.suppressedEvents, bytes: this.suppressedBytes },
    }
    if (t - this.windowStart >= 1000) {
      this.windowStart = t
      this.inWindow = 0
    }
    this.sinceWarn += this.bytes
    if (this.inWindow < SKIP_EVENTS_PER_SECOND) {
      this.inWindow++
      this.bus.publish('frame.invalid', data)
      this.suppressedEvents = this.suppressedBytes = 0
    } else {
      this.suppressedEvents++
      this.suppressedBytes += this.bytes
    }
    if (t - this.lastWarn >= SKIP_WARN_MS) {
      this.log.warn(
        { source: this.source, skipped: this.bytes, codes: this.codes, offset: this.offset, hex, skippedSinceLastWarning: this.sinceWarn },
        'skipped bytes that are no LQ-Connect frame (does the server frame pops as 1 length byte + text?); at most one such warning a minute',
      )
      this.lastWarn = t
      this.sinceWarn = 0
    }
    this.bytes = 0
    this.codes = {}
    this.offset = -1
    this.sample = []
    this.sampled = 0
  }
}
