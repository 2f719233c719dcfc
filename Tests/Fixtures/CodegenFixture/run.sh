#!/usr/bin/env bash
# The generator as a user meets it: builds and tests this fixture package, which applies the
# ARCPCodegen plugin to its own targets (docs/CODEGEN.md, "The fixture package").
#   1. make-draft-schema.py writes Sources/DraftWire/arcp.schema.json: the shipped schema plus a
#      new message type, event kind, error code, feature flag and optional field;
#   2. `swift test` on the fixture: the plugin generates DraftWire and VendorWire, the evolution
#      policy's code compiles against both schemas with warnings as errors, and the tests decode
#      and validate the new members;
#   3. the negative control: a switch without `default:` typechecks against the shipped schema
#      and fails against the draft.
# Run from Scripts/test.sh. Scratch directory: $ARCP_FIXTURE_SCRATCH, default <repo>/.build/codegen-fixture.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
scratch="${ARCP_FIXTURE_SCRATCH:-$repo/.build/codegen-fixture}"
start=$SECONDS

if ! command -v python3 >/dev/null 2>&1; then
    echo "codegen fixture: SKIPPED: python3 is needed to write the draft schema" >&2
    exit 0
fi
python3 "$here/make-draft-schema.py" "$repo/schema/arcp.schema.json" "$here/Sources/DraftWire/arcp.schema.json"

swift test --package-path "$here" --scratch-path "$scratch" "$@"

# Negative control: the exhaustive switch compiles against the shipped enums, not the draft's.
bin="$(swift build --package-path "$here" --scratch-path "$scratch" --show-bin-path)"
modules="$bin/Modules"
[ -d "$modules" ] || modules="$bin"
control="$(mktemp -d)"
trap 'rm -rf "$control"' EXIT
sed 's/^import DraftWire$/import ARCPGenerated/' "$here/Exhaustive.swift.txt" > "$control/shipped.swift"
cp "$here/Exhaustive.swift.txt" "$control/draft.swift"
if ! out="$(swiftc -typecheck -swift-version 6 -I "$modules" "$control/shipped.swift" 2>&1)"; then
    echo "codegen fixture: the exhaustive switch should compile against the shipped schema:" >&2
    echo "$out" >&2
    exit 1
fi
if out="$(swiftc -typecheck -swift-version 6 -I "$modules" "$control/draft.swift" 2>&1)"; then
    echo "codegen fixture: the exhaustive switch compiled against the draft; the evolution test proves nothing" >&2
    exit 1
fi
if ! grep -q "switch must be exhaustive" <<<"$out"; then
    echo "codegen fixture: the exhaustive switch failed for another reason:" >&2
    echo "$out" >&2
    exit 1
fi
echo "codegen fixture: passed in $((SECONDS - start)) s (draft schema regenerated, evolution policy holds, negative control fails as it must)"
