import type { Cmd } from '../core/cmd.js'
import { usageError } from '../core/cmd.js'
import { createLogger, isLogLevel, LOG_LEVELS } from '../core/log.js'

const USAGE = `Usage: telbridge reindex --config FILE [--log-level warn]

Rebuilds the recording index in <dataDir>/telbridge.db from every sidecar under
<dataDir>/recordings (the sidecars are the truth; the index is only a copy to search). Needed after
files were copied into the store by hand, restored from a backup, or the clock was set back; the
daemon itself only rescans the day directories changed since its last commit.

It may run while the daemon runs: each day directory is one short transaction (SQLite WAL: the
daemon's reads never wait, its writes wait milliseconds), and files younger than an hour (a
commit in progress) are neither moved to orphans nor removed. Stopping the daemon first is still
the surest way. Sidecars not indexed are logged (stderr) with the reason. Prints the counts and
the time taken. Exit 0 done, 1 the database or the directory could not be used.`

export const reindexCommands: Record<string, Cmd> = {
  reindex: {
    summary: 'rebuild the recording index from the sidecars (see --help)',
    usage: USAGE,
    options: { config: { type: 'string', short: 'c' }, 'log-level': { type: 'string', default: 'warn' } },
    async run(v) {
      if (typeof v.config !== 'string') return usageError('reindex needs --config FILE')
      const level = v['log-level']
      if (!isLogLevel(level)) return usageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`)
      const { loadConfig } = await import('../config.js')
      const config = await loadConfig(v.config)
      const [{ openDb }, { RecordingStore }, { EventBus }, { Metrics }, { MODULES }] = await Promise.all([
        import('../core/db.js'),
        import('../core/recordings/store.js'),
        import('../core/events.js'),
        import('../core/metrics.js'),
        import('../registry.js'),
      ])
      const log = createLogger(level, process.stderr)
      const db = openDb(config.dataDir)
      try {
        // no keepDays: retention is the daemon's, a reindex only reads and indexes
        const store = new RecordingStore({
          dataDir: config.dataDir,
          config: { ...config.recordings, keepDays: undefined },
          log,
          bus: new EventBus(),
          metrics: new Metrics(),
          boxes: MODULES.find((m) => m.recordingBoxes)?.recordingBoxes,
          db,
        })
        const s = await store.reindex()
        const t = store.totals()
        process.stdout.write(
          `recording index rebuilt in ${(s.ms / 1000).toFixed(1)} s: ${s.days} day directories, ${s.indexed} sidecars indexed (${s.added} new, ${s.removed} rows removed), ` +
            `${s.skipped} not indexed (logged), ${s.orphans} audio files without a sidecar moved to recordings/orphans, ${s.tempsRemoved} half-written sidecars removed; ` +
            `the index holds ${t.count} recordings, ${t.bytes} bytes\n`,
        )
        await store.close()
      } finally {
        db.close()
      }
      return 0
    },
  },
}
