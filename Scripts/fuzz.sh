#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer) of the code that reads peer input first:
#
#   json      the JSON parser and writer (Sources/ARCPJSON)
#   envelope  the single-pass envelope decoder + validator, against the two-pass path
#             (Sources/ARCPGenerated: Support + the code generated from schema/arcp.schema.json)
#   lease     lease pattern compiler, target canonicalizer, glob inclusion (Sources/ARCP/Lease)
#
# Usage:
#   Scripts/fuzz.sh [--time SECONDS] [--build-only] [--keep-corpus] [TARGET...]
#
# Each target is built with `swiftc -sanitize=fuzzer,address` straight from the sources it needs
# (no SwiftPM product: only those sources are instrumented, and the build takes well under a
# minute instead of a second full build of the package) into .build/fuzz/onone/ (.build/fuzz/o/
# with FUZZ_OPT=-O), called DIR below. Then each runs for --time seconds (default 15) from its
# committed seed corpus Fuzz/corpus/TARGET (see Fuzz/make-corpus.py) and dictionary
# Fuzz/dictionaries/TARGET.dict, plus a work corpus DIR/corpus/TARGET where new inputs land
# (kept between runs with --keep-corpus, otherwise started afresh).
#
# A crash (trap, sanitizer report, failed property, one input taking over 10 s, more than 2 GiB)
# fails the run: the input is saved as DIR/artifacts/TARGET-crash-* and the command that
# reproduces it is printed. Figures per target (executions, coverage, corpus, crashes) go to
# stdout and to DIR/TARGET.stats; libFuzzer's output to DIR/TARGET.log.
#
# Environment: SWIFTC (default: swiftc), FUZZ_TIME (default for --time), FUZZ_OPT (-Onone, the
# default, or -O), FUZZ_JOBS (libFuzzer -fork workers; default 1: one process), FUZZ_FLAGS (extra
# libFuzzer flags, e.g. -runs=0 to only replay the corpus).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/.build/fuzz"
SWIFTC="${SWIFTC:-swiftc}"
TIME="${FUZZ_TIME:-15}"
BUILD_ONLY=0
KEEP=0
TARGETS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --time) TIME="$2"; shift 2 ;;
        --build-only) BUILD_ONLY=1; shift ;;
        --keep-corpus) KEEP=1; shift ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        json|envelope|lease) TARGETS+=("$1"); shift ;;
        *) echo "fuzz.sh: unknown argument $1 (targets: json envelope lease)" >&2; exit 2 ;;
    esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(json envelope lease)

# -Onone by default: it builds four times faster than -O (20 s of CPU for ARCPGenerated instead of
# 85 s) and runs about 75 % as fast under the sanitizers, and it keeps the standard library's
# debug preconditions (unsafe-buffer bounds) on top of the overflow traps we look for.
# AddressSanitizer catches reads outside the input buffer either way. FUZZ_OPT=-O fuzzes the code
# as it is shipped. No -g: it doubles the build time, and libFuzzer's traces name the functions.
# lld: gold prints thousands of "cannot export local symbol" warnings for the sanitizer's symbols.
OPT="${FUZZ_OPT:--Onone}"
OUT="$OUT/${OPT#-}"
FLAGS=("$OPT" -sanitize=fuzzer,address -parse-as-library -package-name swift_arcp -swift-version 6 -enable-upcoming-feature ExistentialAny -use-ld=lld)
# Swift's crash backtracer and AddressSanitizer fight over the crashed process; libFuzzer's own
# report (with the input) is what we want.
export SWIFT_BACKTRACE=enable=no
mkdir -p "$OUT/lib" "$OUT/artifacts"

# Rebuilds OUTPUT from SOURCES only when a source (or this script) is newer.
stale() {
    local output="$1"; shift
    [ -e "$output" ] || return 0
    local f
    for f in "$@" "$0"; do [ "$f" -nt "$output" ] && return 0; done
    return 1
}

# A static library module: NAME SOURCES... (with -I/-L of what came before).
library() {
    local name="$1"; shift
    if stale "$OUT/lib/lib$name.a" "$@"; then
        echo "fuzz.sh: building module $name (${#@} files)" >&2
        "$SWIFTC" "${FLAGS[@]}" -module-name "$name" -emit-module -emit-module-path "$OUT/lib/$name.swiftmodule" \
            -emit-library -static -I "$OUT/lib" "$@" -o "$OUT/lib/lib$name.a"
    fi
}

# A harness executable: NAME LIBS SOURCES... (LIBS: space-separated library names).
harness() {
    local name="$1" libs="$2"; shift 2
    local link=() l deps=()
    for l in $libs; do link+=("-l$l"); deps+=("$OUT/lib/lib$l.a"); done
    if stale "$OUT/fuzz-$name" "$@" "${deps[@]}"; then
        echo "fuzz.sh: building fuzz-$name" >&2
        "$SWIFTC" "${FLAGS[@]}" -module-name "Fuzz_$name" -I "$OUT/lib" -L "$OUT/lib" "$@" "${link[@]}" -o "$OUT/fuzz-$name"
    fi
}

# The generated wire code: run the generator the build-tool plugin runs.
generated() {
    local gen="$OUT/generated"
    if stale "$gen/ARCPTypes.swift" schema/arcp.schema.json Sources/ARCPCodegenCore/*.swift Sources/ARCPCodegenTool/*.swift; then
        echo "fuzz.sh: generating ARCPGenerated from schema/arcp.schema.json" >&2
        swift build --product arcp-codegen >"$OUT/codegen-build.log" 2>&1 \
            || { cat "$OUT/codegen-build.log" >&2; exit 1; }
        "$(swift build --show-bin-path)/arcp-codegen" --schema schema/arcp.schema.json --module-name ARCPGenerated --output "$gen"
    fi
}

build() {
    case "$1" in
        json)
            library ARCPJSON Sources/ARCPJSON/*.swift
            harness json "ARCPJSON" Fuzz/Harnesses/JSONParserFuzz.swift ;;
        envelope)
            library ARCPJSON Sources/ARCPJSON/*.swift
            generated
            library ARCPGenerated Sources/ARCPGenerated/Support/*.swift "$OUT"/generated/*.swift
            harness envelope "ARCPGenerated ARCPJSON" Fuzz/Harnesses/EnvelopeFuzz.swift ;;
        lease)
            # The lease layer needs nothing but Foundation: compiled into the harness's module.
            harness lease "" Sources/ARCP/Lease/*.swift Fuzz/Harnesses/LeaseFuzz.swift ;;
    esac
}

run() {
    local t="$1" work="$OUT/corpus/$1" log="$OUT/$1.log"
    [ "$KEEP" = 1 ] || rm -rf "$work"
    mkdir -p "$work"
    rm -f "$OUT"/artifacts/"$t"-*
    local max_len=65536
    [ "$t" = lease ] && max_len=4096
    echo "fuzz.sh: fuzzing $t for ${TIME}s" >&2
    local status=0 fork=() dict=()
    [ "${FUZZ_JOBS:-1}" -gt 1 ] && fork=(-fork="$FUZZ_JOBS")
    [ -f "Fuzz/dictionaries/$t.dict" ] && dict=(-dict="Fuzz/dictionaries/$t.dict")
    # shellcheck disable=SC2086
    "$OUT/fuzz-$t" -max_total_time="$TIME" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
        -print_final_stats=1 "${fork[@]}" "${dict[@]}" -artifact_prefix="$OUT/artifacts/$t-" ${FUZZ_FLAGS:-} \
        "$work" "Fuzz/corpus/$t" >"$log" 2>&1 || status=$?
    local execs cov ft corp
    execs=$(grep -h 'stat::number_of_executed_units' "$log" | awk '{s+=$2} END {print s+0}')
    cov=$(grep -ohE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
    ft=$(grep -ohE 'ft: [0-9]+' "$log" | tail -1 | awk '{print $2}')
    corp=$(grep -ohE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 | awk '{print $2}')
    local crashes
    crashes=$(find "$OUT/artifacts" -name "$t-*" | wc -l)
    printf '%-9s %6ss  executions %10s  coverage %5s edges  features %6s  corpus %s  crashes %s\n' \
        "$t" "$TIME" "${execs:-0}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes" | tee "$OUT/$t.stats"
    if [ "$status" != 0 ] || [ "$crashes" != 0 ]; then
        echo "fuzz.sh: $t FAILED (exit $status); last lines of $log:" >&2
        grep -E 'ERROR|==[0-9]+==|Fatal error|Precondition|deadly signal|Test unit written|SUMMARY' "$log" | head -20 >&2 || true
        local a
        for a in "$OUT"/artifacts/"$t"-*; do
            [ -e "$a" ] && echo "  reproduce: $OUT/fuzz-$t $a" >&2
        done
        return 1
    fi
}

# The toolchain must have libFuzzer (`swiftc -sanitize=fuzzer`, Linux toolchains from swift.org
# do; Xcode's does not): otherwise skip, saying why, rather than fail a machine that cannot fuzz.
probe() {
    local dir
    dir="$(mktemp -d)"
    printf '@_cdecl("LLVMFuzzerTestOneInput") public func f(_ d: UnsafePointer<UInt8>, _ n: Int) -> CInt { 0 }\n' >"$dir/probe.swift"
    if ! "$SWIFTC" "${FLAGS[@]}" -module-name Probe "$dir/probe.swift" -o "$dir/probe" >"$dir/log" 2>&1; then
        echo "fuzz.sh: SKIPPED: this toolchain cannot build with -sanitize=fuzzer,address ($(head -c 300 "$dir/log" | tr '\n' ' '))" >&2
        rm -rf "$dir"
        return 1
    fi
    rm -rf "$dir"
}
if [ "${FUZZ_SKIP_PROBE:-0}" != 1 ] && ! probe; then exit 0; fi

T0=$SECONDS
for t in "${TARGETS[@]}"; do build "$t"; done
echo "fuzz.sh: build took $((SECONDS - T0)) s ($OPT)" >&2
[ "$BUILD_ONLY" = 1 ] && exit 0
T1=$SECONDS
failed=0
for t in "${TARGETS[@]}"; do run "$t" || failed=1; done
echo "fuzz.sh: fuzzing took $((SECONDS - T1)) s; in all $((SECONDS - T0)) s" >&2
exit "$failed"
