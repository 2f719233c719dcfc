#!/usr/bin/env bash
# Builds the DocC documentation of every library product into .build/docs/<Target>, with
# warnings as errors (a broken symbol link or a bad article fails it). Not part of test.sh: it
# compiles each target again for its symbol graph. CI runs it as its own step.
#
#   Scripts/docs.sh                 # every documented target
#   Scripts/docs.sh ARCP ARCPVapor  # some of them
#   DOCS_STATIC=1 Scripts/docs.sh   # also transform for static hosting (GitHub Pages, …)
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    # Every target with a documentation catalog.
    for catalog in Sources/*/*.docc; do
        targets+=("$(basename "$(dirname "$catalog")")")
    done
fi
extra=()
if [ "${DOCS_STATIC:-0}" = 1 ]; then
    extra+=(--transform-for-static-hosting --hosting-base-path swift-arcp)
fi
mkdir -p .build/docs
failed=()
for target in "${targets[@]}"; do
    echo "docs.sh: $target" >&2
    if ! swift package --allow-writing-to-directory .build/docs \
        generate-documentation --target "$target" --warnings-as-errors \
        --output-path ".build/docs/$target" ${extra[@]+"${extra[@]}"}; then
        failed+=("$target")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "docs.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "docs.sh: built ${targets[*]} into .build/docs" >&2
