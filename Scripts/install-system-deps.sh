#!/usr/bin/env bash
# Installs the system packages swift-arcp needs to build. Idempotent: installs only what is
# missing. Debian/Ubuntu only; macOS ships SQLite in the SDK and needs nothing.
#
# - libsqlite3-dev: GRDB (the ARCPStore target) links the system SQLite and needs its headers
#   (GRDB's GRDBSQLite system-library target: `#include <sqlite3.h>`, `link "sqlite3"`).
set -euo pipefail

packages=(libsqlite3-dev)

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-system-deps: not a Debian-like system; install SQLite 3 development files yourself" >&2
    exit 0
fi

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-system-deps: all present (${packages[*]})"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
