#!/usr/bin/env bash
# One entry point for a fresh Debian/Ubuntu box (package registries reachable):
#   ./dev.sh demo   install what is missing, fetch + verify models, run the demo:
#                   agent (replay cameras) -> embedded broker -> review console
#   ./dev.sh test   the same set-up, then the whole test suite
#   ./dev.sh setup  set-up only
#   ./dev.sh check-aarch64   the crate compiles for Jetsons (aarch64, GPU features on)
set -euo pipefail
cd "$(dirname "$0")"

# Build: bindgen for nokhwa (libclang), cmake + nasm for libjpeg-turbo.
BUILD_PKGS=(build-essential pkg-config libclang-dev cmake nasm python3 python3-venv python3-pip)
# Tests: real photos, a Chinese font for rendered labels, a local RTSP server,
# Mosquitto (tests start private brokers; some use one at 127.0.0.1:1883), and
# headless Chromium + chromedriver for the station display's page tests.
TEST_PKGS=(opencv-doc fonts-wqy-microhei python3-gi gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly mosquitto
  chromium chromium-driver)

# The demo's sorting station is rendered from Debian's sample photos.
DEMO_PKGS=(opencv-doc)

# The review console's tests use PostgreSQL: $REVIEW_TEST_POSTGRES if set, else
# a server on 127.0.0.1:5432 that lets `postgres` in without a password, else a
# private server started here (trust auth, 127.0.0.1:55432, data under $TMPDIR).
ensure_postgres() {
  if [ -n "${REVIEW_TEST_POSTGRES:-}" ]; then return 0; fi
  local url="postgres://postgres@127.0.0.1:5432/postgres"
  if command -v psql >/dev/null && psql -w "$url" -qAtc 'select 1' >/dev/null 2>&1; then
    export REVIEW_TEST_POSTGRES="$url"
    return 0
  fi
  apt_install postgresql
  local port=55432
  url="postgres://postgres@127.0.0.1:$port/postgres"
  if ! psql -w "$url" -qAtc 'select 1' >/dev/null 2>&1; then
    echo "==> starting a private PostgreSQL on 127.0.0.1:$port for the tests"
    local bin data="${TMPDIR:-/tmp}/review-console-test-pg"
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    local as=()
    rm -rf "$data"
    mkdir -p "$data"
    if [ "$(id -u)" -eq 0 ]; then
      as=(runuser -u postgres --)   # initdb refuses to run as root
      chown postgres "$data"
    fi
    "${as[@]}" "$bin/initdb" -D "$data" -A trust -U postgres >/dev/null
    "${as[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -o "-p $port -k $data -c listen_addresses=127.0.0.1" -w start >/dev/null
  fi
  export REVIEW_TEST_POSTGRES="$url"
}

# The MQTT tests use a broker at 127.0.0.1:1883; start one if none listens.
ensure_broker() {
  if (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then return 0; fi
  echo "==> starting mosquitto on 127.0.0.1:1883 for the tests"
  local conf="${TMPDIR:-/tmp}/edge-agent-test-mosquitto.conf"
  printf 'listener 1883 127.0.0.1\nallow_anonymous true\n' > "$conf"
  /usr/sbin/mosquitto -d -c "$conf"
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && return 0; sleep 0.1; done
  echo "error: mosquitto did not start on 127.0.0.1:1883" >&2
  exit 1
}

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

need_cargo() {
  if ! command -v cargo >/dev/null; then
    echo "error: no Rust toolchain (cargo). Install Rust >= 1.92 with rustup, then run this again." >&2
    exit 1
  fi
}

setup() {
  need_cargo
  if command -v dpkg >/dev/null; then apt_install "${BUILD_PKGS[@]}" "$@"; fi
  python3 models/setup.py --quiet
}

# Jetson boxes are aarch64: the Rust target, a cross C compiler for the crates
# that build C (libjpeg-turbo, ring, openh264) and the arm64 kernel headers for
# bindgen (V4L2). Checks the whole crate, GPU providers included.
check_aarch64() {
  need_cargo
  if command -v dpkg >/dev/null; then apt_install "${BUILD_PKGS[@]}" gcc-aarch64-linux-gnu g++-aarch64-linux-gnu; fi
  rustup target add aarch64-unknown-linux-gnu
  CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
  CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++ \
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
  BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--sysroot=/usr/aarch64-linux-gnu" \
    cargo check --release --locked -p edge-agent --all-targets --features cuda,tensorrt --target aarch64-unknown-linux-gnu
}

case "${1:-}" in
  setup) setup ;;
  check-aarch64) check_aarch64 ;;
  demo)
    setup "${DEMO_PKGS[@]}"
    cargo build --release -p edge-agent -p review-console
    bin=./target/release
    $bin/edge-agent models verify
    $bin/edge-agent classify demo/frames/*.jpg
    # A sorting station on a replay camera: seeded footage, some items into the wrong bin.
    rm -rf var/demo/station
    $bin/edge-agent simulate-station --out var/demo/station --seconds 30
    # The review console's demo user (SQLite under var/demo, nothing to install).
    REVIEW_CONSOLE_PASSWORD=demo-password $bin/review-console user --config demo/review-console.toml add --role admin demo
    # The agent with its embedded MQTT broker, the console subscribed to it, and
    # what the agent publishes printed live in the foreground.
    $bin/edge-agent run --config demo/station.toml --duration 40s --output var/demo/results.jsonl &
    agent=$!
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/11883) 2>/dev/null && break; sleep 0.2; done
    $bin/review-console serve --config demo/review-console.toml 2>var/demo/review-console.log &
    console=$!
    trap 'kill "$agent" "$console" 2>/dev/null || true' EXIT
    $bin/edge-agent watch --config demo/station.toml --timeout 42s || true
    wait "$agent" || true
    echo
    echo "==> the review queue (review-console queue --config demo/review-console.toml):"
    $bin/review-console queue --config demo/review-console.toml
    echo
    echo "==> review them at http://127.0.0.1:8090 (user demo, password demo-password)"
    if [ -t 0 ]; then echo "    Ctrl-C stops the console."; wait "$console"; fi
    ;;
  test)
    setup "${TEST_PKGS[@]}"
    ensure_broker
    ensure_postgres
    exec cargo test --release --workspace
    ;;
  *) echo "usage: $0 demo|test|setup|check-aarch64" >&2; exit 2 ;;
esac
