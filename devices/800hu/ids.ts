import type { BoxIds } from '../../daemon/core/recordings/record.js'
import { boxSourceId, normaliseMac } from '../../protocols/800hu/mac.js'

/** 800hu boxes in the recording store: the MAC's 12 lowercase hex digits, source `800hu-<mac12>`. */
export const BOX_IDS: BoxIds = {
  normalise: normaliseMac,
  source: boxSourceId,
  describe: 'a MAC address (12 hex digits, with or without : or -)',
}
