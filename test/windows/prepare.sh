#!/usr/bin/env bash
# Installs what the Windows test group (test/windows/, docs/windows.md) needs, when missing: Debian's
# Wine, 32-bit (wine32:i386, after `dpkg --add-architecture i386`) and 64-bit, and the mingw cross
# compilers that build the LClient test double as a Windows DLL. Run by `npm test` after
# test/prepare.sh. One line per action; exits 0 when it cannot install (the group then skips, saying
# why), except under CI=true, where a failed install exits 1 as test/prepare.sh does.
# The Windows Node builds and koffi's Windows packages come from npm on demand, into
# $TB_WINDOWS_CACHE (default ~/.cache/telbridge-windows), when the group runs (test/helpers/windows.ts).
#
#   TB_WINDOWS=0 bash test/windows/prepare.sh    skip the group (nothing installed, the tests skip)
#   TB_PREPARE_NO_INSTALL=1 ...                   check only: print what to run
set -uo pipefail

PACKAGES='wine wine32:i386 wine64 gcc-mingw-w64-i686 gcc-mingw-w64-x86-64'

say() { echo "prepare windows: $*"; }

if [ "${TB_WINDOWS:-}" = 0 ]; then
  say "TB_WINDOWS=0: the Windows group (test/windows/) skips"
  exit 0
fi
if [ "$(uname -s)" != Linux ] || ! command -v dpkg-query >/dev/null 2>&1; then
  say "not Debian/Ubuntu: the Windows group (test/windows/) needs $PACKAGES and skips without them"
  exit 0
fi

missing=()
for pkg in $PACKAGES; do
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" = installed ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  say "Wine and mingw installed ($PACKAGES)"
  exit 0
fi

need_i386=no
dpkg --print-foreign-architectures 2>/dev/null | grep -qx i386 || need_i386=yes
how="apt-get install -y -qq --no-install-recommends ${missing[*]}"
[ "$need_i386" = yes ] && how="dpkg --add-architecture i386 && apt-get update && $how"

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
  say "missing ${missing[*]}; the Windows group (test/windows/) will skip. To run it, as root: $how"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
say "installing ${missing[*]}$([ "$need_i386" = yes ] && echo ' (adding the i386 architecture first)')"
ok=yes
if [ "$need_i386" = yes ]; then "${sudo[@]}" dpkg --add-architecture i386 || ok=no; fi
if [ "$ok" = yes ]; then "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || ok=no; fi
if [ "$ok" = yes ]; then
  say "installed ${missing[*]} in $(($(date +%s) - start)) s"
else
  say "installing failed; the Windows group (test/windows/) will skip"
  [ "${CI:-}" = true ] && exit 1
fi
exit 0
