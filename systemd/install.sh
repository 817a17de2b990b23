#!/bin/sh
# Installs edge-agent as a systemd service from a built checkout. Run as root:
#
#   cargo build --release            # (with --features cuda/tensorrt for a GPU box)
#   python3 models/setup.py          # fetches and verifies the models + ONNX Runtime
#   sudo ./systemd/install.sh [--gpu] [--binary PATH]
#
# Idempotent: run it again after every build. It installs files, the system
# user and the config folder, and reloads systemd's view of the units; it never
# starts, stops, enables or restarts the service.
#
#   --gpu          also install the GPU drop-in (edge-agent.service.d/gpu.conf)
#   --binary PATH  the agent to install (default: target/release/edge-agent)
#   DESTDIR=/tmp/x install into a staging root instead of / (packaging, tests):
#                  users and tmpfiles are applied with --root, systemd is left alone.
set -eu

usage() {
    sed -n '2,16s/^# \{0,1\}//p' "$0"
}

GPU=0
SRC_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
REPO=$(dirname -- "$SRC_DIR")
BINARY=$REPO/target/release/edge-agent
while [ $# -gt 0 ]; do
    case $1 in
        --gpu) GPU=1 ;;
        --binary) [ $# -ge 2 ] || { echo "install.sh: --binary needs a path" >&2; exit 2; }; BINARY=$2; shift ;;
        --binary=*) BINARY=${1#--binary=} ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

DESTDIR=${DESTDIR:-}
# Strip a trailing slash so "$DESTDIR/etc" never reads "//etc".
DESTDIR=${DESTDIR%/}

BIN_DIR=$DESTDIR/usr/local/bin
SHARE_DIR=$DESTDIR/usr/local/share/edge-agent
MODELS_DIR=$SHARE_DIR/models
UNIT_DIR=$DESTDIR/etc/systemd/system
DROPIN_DIR=$UNIT_DIR/edge-agent.service.d
SYSUSERS_DIR=$DESTDIR/usr/local/lib/sysusers.d
TMPFILES_DIR=$DESTDIR/usr/local/lib/tmpfiles.d
CONF_DIR=$DESTDIR/etc/edge-agent
GPU_ORT=/usr/local/lib/edge-agent/onnxruntime-gpu/libonnxruntime.so.1.32.0

say() { printf '%s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

# --- Checks before touching anything -------------------------------------
if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
    die "run as root (sudo $0), or set DESTDIR to stage the files"
fi
[ -f "$BINARY" ] && [ -x "$BINARY" ] || die "no agent at $BINARY: build it first (cargo build --release) or pass --binary PATH"
for f in edge-agent.service edge-agent-gpu.conf edge-agent.sysusers edge-agent.tmpfiles agent.example.toml; do
    [ -f "$SRC_DIR/$f" ] || die "missing $SRC_DIR/$f: run this from a complete checkout"
done
[ -d "$REPO/models" ] || die "no models/ folder next to systemd/ in $REPO"
ORT_LIB=$REPO/models/onnxruntime/libonnxruntime.so.1.32.0
[ -f "$ORT_LIB" ] || die "$ORT_LIB is missing: run python3 models/setup.py first (it fetches the models and ONNX Runtime)"
if ! ls "$REPO"/models/*/*.onnx >/dev/null 2>&1; then
    die "no .onnx files under models/: run python3 models/setup.py first"
fi

# --- The binary: written beside the old one, then renamed over it, so a
# running agent keeps its (unlinked) executable and the next start gets the new one.
say "binary    -> $BIN_DIR/edge-agent"
install -d -m 0755 "$BIN_DIR"
install -m 0755 "$BINARY" "$BIN_DIR/.edge-agent.new"
mv -f "$BIN_DIR/.edge-agent.new" "$BIN_DIR/edge-agent"

# --- Models: manifests, labels, category maps, ONNX files and the ONNX Runtime
# library; not setup.py, tools/ or the download cache. Built in a fresh folder
# and swapped in, so files removed from the checkout disappear here too.
say "models    -> $MODELS_DIR"
install -d -m 0755 "$SHARE_DIR"
rm -rf "$MODELS_DIR.new" "$MODELS_DIR.old"
install -d -m 0755 "$MODELS_DIR.new"
for dir in "$REPO"/models/*/; do
    name=$(basename -- "$dir")
    case $name in tools|.cache) continue ;; esac
    [ -f "$dir/model.toml" ] || [ -f "$dir/runtime.toml" ] || continue
    install -d -m 0755 "$MODELS_DIR.new/$name"
    for f in "$dir"*; do
        [ -f "$f" ] || continue
        case $(basename -- "$f") in
            *.toml|*.txt|*.json|*.onnx|libonnxruntime*.so*)
                install -m 0644 "$f" "$MODELS_DIR.new/$name/" ;;
        esac
    done
done
if [ -d "$MODELS_DIR" ]; then mv "$MODELS_DIR" "$MODELS_DIR.old"; fi
mv "$MODELS_DIR.new" "$MODELS_DIR"
rm -rf "$MODELS_DIR.old"
# The example config, for comparing with /etc/edge-agent/agent.toml after an update.
install -m 0644 "$SRC_DIR/agent.example.toml" "$SHARE_DIR/agent.example.toml"

# --- System user, config folder, config --------------------------------------
say "sysusers  -> $SYSUSERS_DIR/edge-agent.conf"
install -d -m 0755 "$SYSUSERS_DIR" "$TMPFILES_DIR"
install -m 0644 "$SRC_DIR/edge-agent.sysusers" "$SYSUSERS_DIR/edge-agent.conf"
say "tmpfiles  -> $TMPFILES_DIR/edge-agent.conf"
install -m 0644 "$SRC_DIR/edge-agent.tmpfiles" "$TMPFILES_DIR/edge-agent.conf"
HAVE_SYSUSERS=0
if command -v systemd-sysusers >/dev/null 2>&1; then HAVE_SYSUSERS=1; fi
if [ -n "$DESTDIR" ]; then
    # Relative to the staging root: the file is read from stdin.
    systemd-sysusers --root="$DESTDIR" - <"$SRC_DIR/edge-agent.sysusers"
elif [ "$HAVE_SYSUSERS" -eq 1 ]; then
    systemd-sysusers "$SYSUSERS_DIR/edge-agent.conf"
else
    # No systemd-sysusers (very old systemd): the same with shadow's tools.
    getent group edge-agent >/dev/null || groupadd --system edge-agent
    getent passwd edge-agent >/dev/null ||
        useradd --system --gid edge-agent --home-dir / --no-create-home --shell /usr/sbin/nologin edge-agent
    usermod -a -G video edge-agent
fi

# The config is never overwritten.
if [ -e "$CONF_DIR/agent.toml" ]; then
    say "config    $CONF_DIR/agent.toml exists, kept (new example: $SHARE_DIR/agent.example.toml)"
else
    say "config    -> $CONF_DIR/agent.toml (from agent.example.toml: edit site, device_id, camera, [mqtt])"
    install -d -m 0750 "$CONF_DIR"
    install -m 0640 "$SRC_DIR/agent.example.toml" "$CONF_DIR/agent.toml"
fi
# Owner and modes of /etc/edge-agent and the group of the files in it
# (root:edge-agent), as at every boot.
if [ -n "$DESTDIR" ]; then
    systemd-tmpfiles --root="$DESTDIR" --create - <"$SRC_DIR/edge-agent.tmpfiles"
elif [ "$HAVE_SYSUSERS" -eq 1 ]; then
    systemd-tmpfiles --create "$TMPFILES_DIR/edge-agent.conf"
else
    chown root:edge-agent "$CONF_DIR" "$CONF_DIR"/*
    chmod 0750 "$CONF_DIR"
fi

# --- Units -----------------------------------------------------------------
say "unit      -> $UNIT_DIR/edge-agent.service"
install -d -m 0755 "$UNIT_DIR"
install -m 0644 "$SRC_DIR/edge-agent.service" "$UNIT_DIR/edge-agent.service"
if [ "$GPU" -eq 1 ]; then
    say "gpu       -> $DROPIN_DIR/gpu.conf"
    install -d -m 0755 "$DROPIN_DIR"
    install -m 0644 "$SRC_DIR/edge-agent-gpu.conf" "$DROPIN_DIR/gpu.conf"
    if [ ! -f "$DESTDIR$GPU_ORT" ]; then
        say "warning   the GPU drop-in expects the GPU build of ONNX Runtime at $GPU_ORT"
        say "          (see systemd/README.md), or set inference.ort_library in agent.toml"
    fi
elif [ -f "$DROPIN_DIR/gpu.conf" ]; then
    say "gpu       $DROPIN_DIR/gpu.conf present from an earlier --gpu install, kept (delete it to run on CPU)"
fi

# --- Tell systemd, start nothing --------------------------------------------
if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    say "systemd   daemon-reload done"
    if command -v runuser >/dev/null 2>&1; then
        # Reads the config and the model manifests as the service user; opens no
        # camera, loads no model, starts nothing.
        if runuser -u edge-agent -- "$BIN_DIR/edge-agent" check-config --config /etc/edge-agent/agent.toml; then
            say "config    check-config passed"
        else
            say "config    check-config found problems (above): fix /etc/edge-agent/agent.toml before starting"
        fi
    fi
    if systemctl is-active --quiet edge-agent; then
        say ""
        say "edge-agent is running the previous build: systemctl restart edge-agent"
    fi
else
    say "systemd   not running here (or DESTDIR set): daemon-reload skipped"
fi

say ""
say "Next:"
say "  systemctl enable --now edge-agent"
say "  journalctl -u edge-agent -f"
