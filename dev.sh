#!/usr/bin/env bash
# One entry point for a fresh Debian/Ubuntu box (package registries reachable):
#   ./dev.sh demo   install what is missing, fetch + verify models, run the demo
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
    setup
    cargo build --release -p edge-agent
    ./target/release/edge-agent models verify
    ./target/release/edge-agent classify demo/frames/*.jpg
    # The agent (with its embedded MQTT broker) in the background, and what it
    # publishes printed live in the foreground.
    mkdir -p var/demo
    ./target/release/edge-agent run --config demo/config.toml --duration 20s --output var/demo/results.jsonl &
    agent=$!
    ./target/release/edge-agent watch --config demo/config.toml --timeout 22s || true
    wait "$agent"
    ;;
  test)
    setup "${TEST_PKGS[@]}"
    ensure_broker
    exec cargo test --release --workspace
    ;;
  *) echo "usage: $0 demo|test|setup|check-aarch64" >&2; exit 2 ;;
esac
