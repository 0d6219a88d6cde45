#!/usr/bin/env bash
# Install what the lab needs on a fresh Debian/Ubuntu machine: nothing is assumed but the
# Rust toolchain. Safe to run again; installs only what is missing.
set -euo pipefail

need_apt=()
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need_apt+=(python3-venv python3-pip)
fi
for extra in "$@"; do
  case "$extra" in
    dig) command -v dig >/dev/null 2>&1 || need_apt+=(dnsutils) ;;
    wrk) command -v wrk >/dev/null 2>&1 || need_apt+=(wrk) ;;
    shellcheck) command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck) ;;
    nft) command -v nft >/dev/null 2>&1 || need_apt+=(nftables) ;;
    # iptables-legacy-restore/-save (the backend Istio's images select; crates/iptables).
    iptables) command -v iptables-legacy-restore >/dev/null 2>&1 || need_apt+=(iptables) ;;
    *) echo "prereqs.sh: unknown extra '$extra'" >&2; exit 2 ;;
  esac
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "prereqs.sh: please install: ${need_apt[*]} (no apt-get here)" >&2
    exit 1
  fi
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "prereqs.sh: installing ${need_apt[*]} with apt-get" >&2
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "prereqs.sh: cargo not found: install Rust (https://rustup.rs) first" >&2
  exit 1
fi
