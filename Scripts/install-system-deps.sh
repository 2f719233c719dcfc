#!/usr/bin/env bash
# Installs the system packages swift-arcp needs to build and test. Idempotent: installs only
# what is missing. Debian/Ubuntu only; macOS ships SQLite in the SDK and needs nothing (the
# PostgreSQL tests are skipped there unless a server is installed, e.g. with Homebrew).
#
# - libsqlite3-dev: GRDB (the ARCPStore target) links the system SQLite and needs its headers
#   (GRDB's GRDBSQLite system-library target: `#include <sqlite3.h>`, `link "sqlite3"`).
# - postgresql: the server binaries (initdb, pg_ctl, createdb) the ARCPPostgres tests use to
#   start a throwaway server on a free loopback port (Tests/ARCPTestSupport/PostgresServer.swift).
#   The package's own cluster is not needed: the tests never use it.
set -euo pipefail

packages=(libsqlite3-dev postgresql)

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
