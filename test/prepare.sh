#!/usr/bin/env bash
# Installs the Debian packages the tests need, when missing; run by `npm test` before the build.
# One line per action. Exits 0 even when it cannot install: each test that needs a missing tool then
# skips, saying what is missing. (Under CI=true a failed apt-get exits 1: CI must run every test.)
#
#   bash test/prepare.sh                   check, install what is missing (root, or passwordless sudo)
#   TB_PREPARE_NO_INSTALL=1 bash test/prepare.sh   check only: print what to run
#
# `npm ci && npm run demo` needs none of this: only Node.
set -uo pipefail

# One package a line: "package  test that needs it". Adding one is one line.
PACKAGES='
chromium            test/page.test.ts drives the live page in headless Chromium (/usr/bin/chromium)
fonts-wqy-microhei  test/page.test.ts: a small CJK font, so the page screenshot shows 南京, not boxes
systemd             test/systemd.test.ts runs systemd-analyze verify on systemd/telbridge.service
gcc                 test/native.test.ts, test/lq-dll.test.ts, test/pe.test.ts compile the LClient test double
libc6-dev           the C library headers for that compile
prometheus          test/metrics-promtool.test.ts pipes /metrics to promtool check metrics (/usr/bin/promtool)
'

say() { echo "prepare: $*"; }

if ! command -v dpkg-query >/dev/null 2>&1; then
  say "no dpkg-query (not Debian/Ubuntu): install by hand what the tests need: $(echo "$PACKAGES" | awk 'NF {print $1}' | xargs); tests without them skip"
  exit 0
fi

missing=()
while read -r pkg _; do
  [ -n "$pkg" ] || continue
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" = installed ] || missing+=("$pkg")
done <<<"$PACKAGES"

if [ "${#missing[@]}" -eq 0 ]; then
  say "all test packages installed ($(echo "$PACKAGES" | awk 'NF {print $1}' | xargs))"
  exit 0
fi

cmd=(apt-get install -y -qq --no-install-recommends "${missing[@]}")
sudo=()
if [ "${TB_PREPARE_NO_INSTALL:-}" = 1 ]; then
  can=no
elif [ "$(id -u)" -eq 0 ]; then
  can=yes
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
  can=yes
  sudo=(sudo -n)
else
  can=no
fi

if [ "$can" = no ]; then
  say "missing ${missing[*]}; the tests that need them will skip. To run them: sudo apt-get update && sudo ${cmd[*]}"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
say "installing ${missing[*]} (apt-get update, then apt-get install)"
if "${sudo[@]}" apt-get update -qq && "${sudo[@]}" "${cmd[@]}"; then
  say "installed ${missing[*]}"
else
  say "apt-get failed; the tests that need ${missing[*]} will skip"
  [ "${CI:-}" = true ] && exit 1
fi
exit 0
