import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

/** Debian's `chromium` package; test/prepare.sh (run by npm test) installs it. Override with TB_CHROMIUM. */
export const CHROMIUM_PATH = process.env.TB_CHROMIUM ?? '/usr/bin/chromium'

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** Why the browser tests cannot run here (a skip reason), or false. */
export function chromiumMissing(): string | false {
  return existsSync(CHROMIUM_PATH) ? false : `no Chromium at ${CHROMIUM_PATH}: run bash test/prepare.sh as root (apt-get install chromium), or set TB_CHROMIUM`
}

/** A headless Chromium; throws when there is none (check chromiumMissing() first). */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: apt-get install -y --no-install-recommends chromium (or set TB_CHROMIUM)`)
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 20_000 })
}
