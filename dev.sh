#!/usr/bin/env bash
# One entry point for a fresh Debian/Ubuntu box (package registries reachable):
#   ./dev.sh demo   install what is missing, fetch + verify models, run the demo
#   ./dev.sh test   the same set-up, then the whole test suite
#   ./dev.sh setup  set-up only
set -euo pipefail
cd "$(dirname "$0")"

# Build: bindgen for nokhwa (libclang), cmake + nasm for libjpeg-turbo.
BUILD_PKGS=(build-essential pkg-config libclang-dev cmake nasm python3 python3-venv python3-pip)
# Tests: real photos, a Chinese font for rendered labels, a local RTSP server.
TEST_PKGS=(opencv-doc fonts-wqy-microhei python3-gi gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly)

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

case "${1:-}" in
  setup) setup ;;
  demo)
    setup
    cargo build --release -p edge-agent
    ./target/release/edge-agent models verify
    ./target/release/edge-agent classify demo/frames/*.jpg
    exec ./target/release/edge-agent run --config demo/config.toml --max-frames 8
    ;;
  test)
    setup "${TEST_PKGS[@]}"
    exec cargo test --release --workspace
    ;;
  *) echo "usage: $0 demo|test|setup" >&2; exit 2 ;;
esac
