#!/bin/sh
# Checks the systemd files in this folder the way CI does (as root, in a
# container without systemd as PID 1; needs systemd-analyze, systemd-sysusers,
# systemd-tmpfiles, i.e. the systemd package, not a running systemd):
#
#   systemd/verify.sh [BINARY]        BINARY: the built agent (default target/release/edge-agent)
#
# 1. `systemd-analyze verify` on edge-agent.service, alone and with
#    edge-agent-gpu.conf applied as a drop-in. verify refuses an ExecStart= whose
#    binary does not exist, so it checks temporary copies whose ExecStart= points
#    at BINARY. Fails on any message about our files (unknown keys, bad values,
#    a missing binary) or a non-zero exit; messages about other units are shown
#    as noise and ignored.
# 2. `systemd-analyze security --offline=yes` on both: prints the exposure
#    score. Informational, unless EDGE_AGENT_MAX_EXPOSURE is set (e.g. 2.0):
#    then a higher score fails.
# 3. edge-agent.sysusers with `systemd-sysusers --dry-run`, and
#    edge-agent.tmpfiles with `systemd-tmpfiles --create` into a scratch root
#    (systemd 252's tmpfiles has no --dry-run) where the sysusers file was
#    applied first, so the edge-agent group resolves.
#
# Exit 0 when everything passes, 1 otherwise. Changes nothing outside a
# temporary folder.
set -eu

SRC_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
REPO=$(dirname -- "$SRC_DIR")
BINARY=${1:-$REPO/target/release/edge-agent}
case $BINARY in
    /*) ;;
    *) BINARY=$(pwd)/$BINARY ;;
esac

die() { printf 'verify.sh: %s\n' "$*" >&2; exit 2; }

[ -f "$BINARY" ] && [ -x "$BINARY" ] || die "no executable at $BINARY: build the agent (cargo build --release) or pass a path"
case $BINARY in
    *[!A-Za-z0-9/._+-]*) die "keep the binary's path to letters, digits and / . _ + - (it is written into a unit file): $BINARY" ;;
esac
for tool in systemd-analyze systemd-sysusers systemd-tmpfiles; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found: install the systemd package"
done
# ExecReload= names it; verify checks every Exec*= command exists.
[ -x /bin/kill ] || die "/bin/kill is missing (ExecReload=): install procps"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/edge-agent-verify.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

FAILED=0
fail() { printf 'FAIL  %s\n' "$*"; FAILED=1; }
pass() { printf 'ok    %s\n' "$*"; }

# Two copies of the unit, ExecStart= rewritten; the second with the GPU drop-in.
mkdir -p "$TMP/cpu" "$TMP/gpu/edge-agent.service.d"
sed "s|^ExecStart=/usr/local/bin/edge-agent |ExecStart=$BINARY |" "$SRC_DIR/edge-agent.service" >"$TMP/cpu/edge-agent.service"
grep -q "^ExecStart=$BINARY run " "$TMP/cpu/edge-agent.service" ||
    die "edge-agent.service has no 'ExecStart=/usr/local/bin/edge-agent run ...' line to point at $BINARY"
cp "$TMP/cpu/edge-agent.service" "$TMP/gpu/edge-agent.service"
cp "$SRC_DIR/edge-agent-gpu.conf" "$TMP/gpu/edge-agent.service.d/gpu.conf"

# verify puts the unit's own folder first in the search path (so the drop-in
# next to it is read). Only the vendor unit folders follow it: not
# /etc/systemd/system, whose edge-agent.service.d/ on an installed box would
# otherwise be merged into what is checked.
SYSTEMD_UNIT_PATH=/usr/local/lib/systemd/system:/usr/lib/systemd/system:/lib/systemd/system
export SYSTEMD_UNIT_PATH
# No pager, no colour codes in what we grep.
SYSTEMD_PAGER=cat SYSTEMD_COLORS=0
export SYSTEMD_PAGER SYSTEMD_COLORS

for variant in cpu gpu; do
    unit=$TMP/$variant/edge-agent.service
    label="edge-agent.service"
    [ "$variant" = gpu ] && label="edge-agent.service + edge-agent-gpu.conf"
    rc=0
    systemd-analyze verify --man=no --generators=no --recursive-errors=no "$unit" >"$TMP/verify.out" 2>&1 || rc=$?
    # Our messages name the unit, its path or the drop-in's path, all of which
    # contain "edge-agent".
    ours=$(grep -F -e "edge-agent" "$TMP/verify.out" || true)
    noise=$(grep -v -F -e "edge-agent" "$TMP/verify.out" || true)
    if [ -n "$noise" ]; then
        printf '      (other units, ignored)\n'
        printf '%s\n' "$noise" | sed 's/^/      | /'
    fi
    if [ "$rc" -ne 0 ] || [ -n "$ours" ]; then
        fail "systemd-analyze verify: $label (exit $rc)"
        sed -e "s|$TMP/$variant/edge-agent.service.d/gpu.conf|systemd/edge-agent-gpu.conf|g" -e "s|$TMP/$variant/|systemd/|g" "$TMP/verify.out" | sed 's/^/      | /'
    else
        pass "systemd-analyze verify: $label"
    fi
done

for variant in cpu gpu; do
    unit=$TMP/$variant/edge-agent.service
    label="edge-agent.service"
    [ "$variant" = gpu ] && label="edge-agent.service + edge-agent-gpu.conf"
    rc=0
    systemd-analyze security --offline=yes --no-pager "$unit" >"$TMP/security.out" 2>&1 || rc=$?
    score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' "$TMP/security.out")
    if [ "$rc" -ne 0 ] || [ -z "$score" ]; then
        fail "systemd-analyze security --offline=yes: $label (exit $rc)"
        sed 's/^/      | /' "$TMP/security.out"
        continue
    fi
    pass "systemd-analyze security: $label: exposure $score"
    if [ -n "${EDGE_AGENT_MAX_EXPOSURE:-}" ]; then
        if awk -v s="${score%% *}" -v m="$EDGE_AGENT_MAX_EXPOSURE" 'BEGIN { exit !(s > m) }'; then
            fail "exposure ${score%% *} is above EDGE_AGENT_MAX_EXPOSURE=$EDGE_AGENT_MAX_EXPOSURE"
        fi
    fi
done

# sysusers: --dry-run reads the host's user database, writes nothing. Errors
# and warnings are printed as "<file>:<line>: ...".
rc=0
systemd-sysusers --dry-run "$SRC_DIR/edge-agent.sysusers" >"$TMP/sysusers.out" 2>&1 || rc=$?
if [ "$rc" -ne 0 ] || grep -q -F -e "edge-agent.sysusers:" "$TMP/sysusers.out"; then
    fail "systemd-sysusers --dry-run edge-agent.sysusers (exit $rc)"
    sed 's/^/      | /' "$TMP/sysusers.out"
else
    pass "systemd-sysusers --dry-run edge-agent.sysusers"
fi

# tmpfiles: applied for real inside a scratch root holding a copy of the user
# database, with our sysusers file applied first (files read from stdin: a
# path argument would be taken relative to --root).
ROOT=$TMP/root
mkdir -p "$ROOT/etc"
for f in passwd group shadow gshadow; do
    if [ -f "/etc/$f" ]; then cp "/etc/$f" "$ROOT/etc/$f"; else : >"$ROOT/etc/$f"; fi
done
rc=0
{
    systemd-sysusers --root="$ROOT" - <"$SRC_DIR/edge-agent.sysusers" &&
        systemd-tmpfiles --root="$ROOT" --create - <"$SRC_DIR/edge-agent.tmpfiles"
} >"$TMP/tmpfiles.out" 2>&1 || rc=$?
if [ "$rc" -ne 0 ] || grep -q -F -e "<stdin>:" "$TMP/tmpfiles.out"; then
    fail "systemd-tmpfiles --create edge-agent.tmpfiles (exit $rc)"
    sed 's/^/      | /' "$TMP/tmpfiles.out"
else
    # The folder exists with the mode and group the unit expects.
    mode=$(stat -c '%a' "$ROOT/etc/edge-agent" 2>/dev/null || echo none)
    gid=$(stat -c '%g' "$ROOT/etc/edge-agent" 2>/dev/null || echo none)
    want_gid=$(awk -F: '$1 == "edge-agent" { print $3 }' "$ROOT/etc/group")
    if [ "$mode" = 750 ] && [ "$gid" = "$want_gid" ]; then
        pass "systemd-tmpfiles --create edge-agent.tmpfiles (/etc/edge-agent 0750 root:edge-agent)"
    else
        fail "systemd-tmpfiles: /etc/edge-agent is mode $mode gid $gid, expected 750 and gid $want_gid (edge-agent)"
    fi
fi

if [ "$FAILED" -ne 0 ]; then
    echo "verify.sh: FAILED"
    exit 1
fi
echo "verify.sh: all checks passed"
