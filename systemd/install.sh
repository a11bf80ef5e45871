#!/usr/bin/env bash
# Installs telbridge as a systemd service from this checkout (after `npm ci`, which builds dist/).
# Run `systemd/install.sh --help` for what it does. Idempotent: run it again to upgrade.
set -euo pipefail

PREFIX=/opt/telbridge
NODE=""
CONF_DIR=/etc/telbridge
UNIT_DIR=/etc/systemd/system
UNIT=telbridge.service
BIN_LINK=/usr/local/bin/telbridge
SERVICE_USER=telbridge
ACTION=install
DRY_RUN=0
START=1
PURGE=0

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"

usage() {
  cat <<EOF
Usage: sudo systemd/install.sh [--prefix DIR] [--node PATH] [--no-start] [--dry-run]
       sudo systemd/install.sh --uninstall [--purge] [--dry-run]
       systemd/install.sh --print-unit [--prefix DIR] [--node PATH]

Installs telbridge as the systemd service "telbridge" from this checkout ($SRC):
  - creates the system user and group "$SERVICE_USER" (no login shell, no home of its own),
  - copies the application (package.json, dist/, daemon/page/, runtime node_modules/) to
    \$PREFIX (default $PREFIX), replacing an older copy,
  - links $BIN_LINK to it (for "telbridge status"),
  - creates $CONF_DIR/telbridge.json from systemd/telbridge.example.json unless it exists
    (root:$SERVICE_USER, mode 0640: it may hold the API token); an existing config is never touched,
  - installs $UNIT_DIR/$UNIT with ExecStart using --node (default: the node on PATH),
  - systemctl daemon-reload, enable, and start (or restart when it runs already; --no-start: neither).
State (the working directory, data/) is /var/lib/telbridge, created by systemd (StateDirectory=).
Logs go to the journal: journalctl -u telbridge -f

--uninstall stops and disables the service and removes the unit, \$PREFIX and $BIN_LINK; it keeps
$CONF_DIR, /var/lib/telbridge and the user unless --purge is given.
--dry-run prints what would be done without changing anything (no root needed).
--print-unit prints the unit file as it would be installed, and exits.

Exit codes: 0 done, 1 failed (not root, npm ci not run, a command failed), 2 usage error.
EOF
}

die() { echo "install.sh: $*" >&2; exit 1; }
usage_error() { echo "install.sh: $*" >&2; echo "Try: systemd/install.sh --help" >&2; exit 2; }

PRINT_UNIT=0
ARGS="$*"
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --prefix) [ $# -ge 2 ] || usage_error "--prefix needs a directory"; PREFIX="$2"; shift 2 ;;
    --prefix=*) PREFIX="${1#*=}"; shift ;;
    --node) [ $# -ge 2 ] || usage_error "--node needs a path"; NODE="$2"; shift 2 ;;
    --node=*) NODE="${1#*=}"; shift ;;
    --no-start) START=0; shift ;;
    --uninstall) ACTION=uninstall; shift ;;
    --purge) PURGE=1; shift ;;
    --dry-run|-n) DRY_RUN=1; shift ;;
    --print-unit) PRINT_UNIT=1; shift ;;
    *) usage_error "unknown option: $1" ;;
  esac
done
[ "$PURGE" -eq 0 ] || [ "$ACTION" = uninstall ] || usage_error "--purge goes with --uninstall"

# Paths end up in the unit file and in rm -rf: plain absolute paths only (systemd would need
# quoting for spaces and %-escaping for specifiers; neither is worth the risk here).
safe_path() { # safe_path WHAT PATH
  case "$2" in
    /*) ;;
    *) usage_error "$1 must be an absolute path, got '$2'" ;;
  esac
  if ! [[ "$2" =~ ^/[A-Za-z0-9._/+@-]+$ ]]; then
    usage_error "$1 may contain only letters, digits and . _ / + @ - (got '$2')"
  fi
  case "$2/" in
    */./*|*/../*|*//*) usage_error "$1 must be a plain path without . or .. or // (got '$2')" ;;
  esac
}
PREFIX="${PREFIX%/}"
case "$PREFIX" in
  ""|/usr|/usr/local|/opt|/etc|/var|/var/lib|/home|/root|/bin|/sbin|/lib|/tmp) usage_error "--prefix ${PREFIX:-/} would replace a system directory; use a directory of its own, e.g. /opt/telbridge" ;;
esac
safe_path --prefix "$PREFIX"

if [ -z "$NODE" ]; then
  NODE="$(command -v node || true)"
  [ -n "$NODE" ] || die "node is not on PATH; install Node.js 20 or later, or pass --node /path/to/node"
fi
safe_path --node "$NODE"
# The unit runs with ProtectHome=yes and PrivateTmp=yes: a node (nvm) or an install there is invisible to it.
hidden_from_service() { case "$(readlink -f "$1" 2>/dev/null || echo "$1")" in /home/*|/root/*|/run/user/*|/tmp/*|/var/tmp/*) return 0 ;; esac; return 1; }

render_unit() {
  sed -e "s#^ExecStart=/usr/bin/node /opt/telbridge/#ExecStart=$NODE $PREFIX/#" \
      -e "s#/opt/telbridge/#$PREFIX/#g" \
      "$SRC/systemd/$UNIT"
}

if [ "$PRINT_UNIT" -eq 1 ]; then
  render_unit
  exit 0
fi

if [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
  die "must run as root: it creates the '$SERVICE_USER' user and writes $PREFIX, $CONF_DIR and $UNIT_DIR.
Run: sudo $0 $ARGS   (or --dry-run to see what it would do)"
fi

run() { # run CMD...: runs it, or prints it under --dry-run
  if [ "$DRY_RUN" -eq 1 ]; then
    printf 'would run:'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}
say() { if [ "$DRY_RUN" -eq 1 ]; then echo "install.sh (dry run): $*"; else echo "install.sh: $*"; fi; }

# systemd as PID 1? (the test systemd itself uses). Without it (a container, a chroot) the files are
# installed and enabled, but nothing is started.
booted=0
[ -d /run/systemd/system ] && booted=1

systemctl_live() { # systemctl_live ARGS...: only when systemd is running
  if [ "$booted" -eq 1 ]; then run systemctl "$@"; else say "systemd is not running here; skipped: systemctl $*"; fi
}

uninstall() {
  if hidden_from_service "$NODE"; then
    die "$NODE resolves to $(readlink -f "$NODE"), which the service cannot see (ProtectHome=yes, PrivateTmp=yes).
Install Node.js system-wide (e.g. /usr/bin/node from your distribution or NodeSource, or /usr/local/bin) and pass --node"
  fi
  if hidden_from_service "$PREFIX"; then
    usage_error "--prefix $PREFIX is under /home, /root or a temp directory, which the service cannot see; use e.g. /opt/telbridge"
  fi
  if [ -e "$UNIT_DIR/$UNIT" ] || [ "$DRY_RUN" -eq 1 ]; then
    if [ "$booted" -eq 1 ]; then run systemctl disable --now "$UNIT" || true; else run systemctl disable "$UNIT" || true; fi
    run rm -f "$UNIT_DIR/$UNIT"
    systemctl_live daemon-reload
  fi
  if [ -L "$BIN_LINK" ] && [ "$(readlink "$BIN_LINK")" = "$PREFIX/dist/daemon/cli.js" ]; then
    run rm -f "$BIN_LINK"
  fi
  if [ -d "$PREFIX" ]; then
    # only a directory this script filled: it has our CLI in it
    [ -f "$PREFIX/dist/daemon/cli.js" ] || die "$PREFIX does not look like a telbridge install (no dist/daemon/cli.js); not removing it"
    run rm -rf "$PREFIX"
  fi
  if [ "$PURGE" -eq 1 ]; then
    run rm -rf "$CONF_DIR" /var/lib/telbridge /var/lib/private/telbridge
    if getent passwd "$SERVICE_USER" >/dev/null; then run userdel "$SERVICE_USER"; fi
    if getent group "$SERVICE_USER" >/dev/null; then run groupdel "$SERVICE_USER" || true; fi
    say "removed telbridge, its config, its state and the '$SERVICE_USER' user"
  else
    say "removed telbridge; kept $CONF_DIR, /var/lib/telbridge and the '$SERVICE_USER' user (--purge removes them)"
  fi
}

install() {
  if hidden_from_service "$NODE"; then
    die "$NODE resolves to $(readlink -f "$NODE"), which the service cannot see (ProtectHome=yes, PrivateTmp=yes).
Install Node.js system-wide (e.g. /usr/bin/node from your distribution or NodeSource, or /usr/local/bin) and pass --node"
  fi
  if hidden_from_service "$PREFIX"; then
    usage_error "--prefix $PREFIX is under /home, /root or a temp directory, which the service cannot see; use e.g. /opt/telbridge"
  fi
  [ -f "$SRC/dist/daemon/cli.js" ] || die "$SRC/dist/daemon/cli.js is missing: run 'npm ci' in $SRC first (it builds dist/)"
  [ -d "$SRC/node_modules" ] || die "$SRC/node_modules is missing: run 'npm ci' in $SRC first"
  [ -x "$NODE" ] || die "$NODE is not an executable node"
  "$NODE" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
    || die "$NODE is Node $("$NODE" --version); telbridge needs Node 20 or later"

  # 1. the user: a system account without a shell; its home is the state directory
  if getent passwd "$SERVICE_USER" >/dev/null; then
    say "user '$SERVICE_USER' exists"
  else
    run useradd --system --user-group --home-dir /var/lib/telbridge --no-create-home \
      --shell /usr/sbin/nologin --comment "telbridge daemon" "$SERVICE_USER"
  fi

  # 2. the application: staged next to $PREFIX, then swapped in, so a failed copy leaves the old one
  if [ "$SRC" = "$(cd "$PREFIX" 2>/dev/null && pwd -P || true)" ]; then
    say "running from $PREFIX itself: the application is in place"
  else
    local stage="$PREFIX.new" old="$PREFIX.old"
    run rm -rf "$stage" "$old"
    run mkdir -p "$stage/daemon"
    run cp -a "$SRC/package.json" "$SRC/package-lock.json" "$SRC/dist" "$SRC/node_modules" "$SRC/systemd" "$stage/"
    [ -f "$SRC/README.md" ] && run cp -a "$SRC/README.md" "$stage/"
    run cp -a "$SRC/daemon/page" "$stage/daemon/"
    if command -v npm >/dev/null; then
      # drop the test and build tools (tap, typescript, playwright-core); works offline
      run sh -c "cd '$stage' && npm prune --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null"
    fi
    run chown -R root:root "$stage"
    run chmod -R u+rwX,go+rX,go-w "$stage"
    run chmod 0755 "$stage/dist/daemon/cli.js"
    if [ -d "$PREFIX" ]; then run mv "$PREFIX" "$old"; fi
    run mv "$stage" "$PREFIX"
    run rm -rf "$old"
    say "installed the application in $PREFIX"
  fi
  run mkdir -p "$(dirname "$BIN_LINK")"
  run ln -sfn "$PREFIX/dist/daemon/cli.js" "$BIN_LINK"

  # 3. the config: created once, never overwritten; readable by the service, not by everyone
  run install -d -m 0755 -o root -g root "$CONF_DIR"
  if [ -e "$CONF_DIR/telbridge.json" ]; then
    say "kept the existing $CONF_DIR/telbridge.json"
  else
    run install -m 0640 -o root -g "$SERVICE_USER" "$SRC/systemd/telbridge.example.json" "$CONF_DIR/telbridge.json"
    say "wrote a starter $CONF_DIR/telbridge.json: add your sources, then: systemctl restart telbridge"
  fi
  if [ "$DRY_RUN" -eq 0 ] && ! "$NODE" "$PREFIX/dist/daemon/cli.js" check-config "$CONF_DIR/telbridge.json"; then
    say "warning: $CONF_DIR/telbridge.json is not valid (see above); the service will not start until it is"
  fi

  # 4. the unit, with this machine's node and prefix
  if [ "$DRY_RUN" -eq 1 ]; then
    echo "would write $UNIT_DIR/$UNIT:"
    render_unit | sed 's/^/    /'
  else
    local tmp
    tmp="$(mktemp "$UNIT_DIR/.$UNIT.XXXXXX")"
    render_unit >"$tmp"
    chmod 0644 "$tmp"
    mv "$tmp" "$UNIT_DIR/$UNIT"
  fi
  systemctl_live daemon-reload
  run systemctl enable "$UNIT"
  if [ "$START" -eq 1 ]; then
    # restart picks up a new application copy; start when it was not running
    systemctl_live restart "$UNIT"
    if [ "$booted" -eq 1 ]; then
      say "telbridge is running: systemctl status telbridge; journalctl -u telbridge -f; telbridge status"
    else
      say "installed and enabled; it starts at the next boot with systemd"
    fi
  else
    say "installed and enabled, not started (--no-start): systemctl start telbridge"
  fi
}

if [ "$ACTION" = uninstall ]; then uninstall; else install; fi
