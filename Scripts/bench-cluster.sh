#!/usr/bin/env bash
# The cluster benchmark (issue 12, docs/CLUSTER.md "Speed"): starts a throwaway PostgreSQL
# (Debian's postgresql package: initdb into a temporary folder, a free port on 127.0.0.1, as
# the postgres user when run as root), makes one empty database per phase, and runs
# `arcp-bench cluster` against it: events/s and jobs/s through 1, 2 and 3 `arcp serve
# --postgres` nodes, the event log's append rate into PostgreSQL against SQLite, and resume
# on another node (p50/p99). The server is stopped and its folder deleted at the end.
#
#   Scripts/bench-cluster.sh [OUT_DIR] [arcp-bench cluster options…]
#
# Writes OUT_DIR/cluster.json (every figure with its samples) when OUT_DIR is given; prints
# markdown tables. Uses the release build (`swift build -c release --product arcp` and
# `--product arcp-bench` first), or BENCH_BIN=DIR. PostgreSQL runs with its default
# durability (fsync on, synchronous_commit on); BENCH_PG_OPTS adds server options (e.g.
# "-c synchronous_commit=off"). Exit: 0 ran; 1 the benchmark failed; 2 setup problem.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT=""
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then OUT="$1"; shift; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"; fi
BIN="${BENCH_BIN:-$ROOT/.build/release}"
for b in arcp arcp-bench; do
    [ -x "$BIN/$b" ] || { echo "bench-cluster: $BIN/$b missing (swift build -c release --product $b)" >&2; exit 2; }
done
PGBIN="$(pg_config --bindir 2>/dev/null || true)"
[ -x "$PGBIN/initdb" ] || PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$PGBIN/initdb" ] || { echo "bench-cluster: PostgreSQL is not installed (Scripts/install-system-deps.sh)" >&2; exit 2; }

DIR="$(mktemp -d /tmp/arcp-bench-pg.XXXXXX)"
AS=()
if [ "$(id -u)" = 0 ]; then chown postgres: "$DIR"; AS=(/usr/sbin/runuser -u postgres --); fi
stop() {
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap stop EXIT
"${AS[@]}" "$PGBIN/initdb" -D "$DIR/data" -A trust -U postgres -E UTF8 --locale=C >/dev/null
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/data/server.log" -w -t 60 \
    -o "-p $PORT -k $DIR/data -c listen_addresses=127.0.0.1 -c max_connections=300 ${BENCH_PG_OPTS:-}" start >/dev/null
URLS=""
for db in nodes1 nodes2 nodes3 store; do
    "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$db"
    URLS="$URLS${URLS:+,}postgres://postgres@127.0.0.1:$PORT/$db?sslmode=disable"
done
echo "bench-cluster: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT (${BENCH_PG_OPTS:-default durability}); $(nproc) CPUs" >&2
JSON=()
[ -n "$OUT" ] && JSON=(--json "$OUT/cluster.json")
"$BIN/arcp-bench" cluster --postgres "$URLS" --arcp "$BIN/arcp" "${JSON[@]}" "$@" || exit 1
