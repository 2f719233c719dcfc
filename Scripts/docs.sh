#!/usr/bin/env bash
# Builds the DocC documentation of every target with a documentation catalog
# (Sources/<Target>/<Target>.docc) into .build/docs/<Target>.doccarchive, with warnings as
# errors: a broken symbol link, a bad article or an undocumented parameter of a documented
# function fails it. Scripts/test.sh runs it as its docs phase (ARCP_SKIP_DOCS=1 skips it);
# this is the way to run it alone.
#
#   Scripts/docs.sh                 # every catalogued target
#   Scripts/docs.sh ARCP ARCPVapor  # some of them
#   DOCS_STATIC=1 Scripts/docs.sh   # also transform for static hosting (GitHub Pages, …)
#   DOCS_COVERAGE=1 Scripts/docs.sh # also DocC's coverage (documentation-coverage.json in each
#                                   # archive) and the table of Scripts/docs-coverage.py
#
# One `generate-documentation` run for all the targets: it reuses the debug build (each target
# is brought up to date, then its symbol graph is extracted) and keeps going past a failing
# target, so one run reports every problem.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for catalog in Sources/*/*.docc; do
        targets+=("$(basename "$(dirname "$catalog")")")
    done
fi
args=()
for target in "${targets[@]}"; do
    args+=(--target "$target")
done
if [ "${DOCS_STATIC:-0}" = 1 ]; then
    args+=(--transform-for-static-hosting --hosting-base-path swift-arcp)
fi
if [ "${DOCS_COVERAGE:-0}" = 1 ]; then
    args+=(--experimental-documentation-coverage --coverage-summary-level brief)
fi
out=.build/docs
mkdir -p "$out"
if [ ${#targets[@]} -eq 1 ]; then
    # With one target the plugin writes the archive's contents to the output path itself.
    output="$out/${targets[0]}.doccarchive"
else
    output="$out"
fi
started=$(date +%s)
echo "docs.sh: ${targets[*]}" >&2
if ! swift package --allow-writing-to-directory "$out" \
    generate-documentation "${args[@]}" --warnings-as-errors --output-path "$output"; then
    echo "docs.sh: FAILED (the errors above; warnings count as errors)" >&2
    exit 1
fi
echo "docs.sh: ${#targets[@]} targets into $out/<Target>.doccarchive in $(( $(date +%s) - started )) s" >&2
if [ "${DOCS_COVERAGE:-0}" = 1 ]; then
    python3 Scripts/docs-coverage.py .
fi
