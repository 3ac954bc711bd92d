#!/usr/bin/env bash
# Fetches the classic online-portfolio-selection benchmark sets (NYSE(O), NYSE(N), TSE, DJIA,
# S&P 500, MSCI; Li & Hoi's OLPS sets) into the git-ignored `data/` folder.
#
# Source: the PyPI package universal-portfolios==0.4.17 (MIT), which ships them as
# `universal/data/<name>.csv`. It is downloaded with pip from PyPI only (no other URL), the CSV files
# are extracted with Python's zipfile/tarfile, and every file is checked against the SHA-256 sums in
# scripts/data.sha256 before it is put in place. A mismatch is a loud failure and leaves data/
# untouched.
#
# Idempotent: when every file listed in scripts/data.sha256 is already in data/ with the right sum,
# nothing is downloaded. Set PIMTL_DATA_DIR to use another folder than ./data.
#
# Usage: bash scripts/fetch-data.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="universal-portfolios==0.4.17"
SUMS="scripts/data.sha256"
DATA_DIR="${PIMTL_DATA_DIR:-data}"

say() { echo "fetch-data: $*"; }
die() { echo "fetch-data: ERROR: $*" >&2; exit 1; }

command -v python3 >/dev/null 2>&1 || die "python3 not found (needed for pip and for checksums)"
[ -f "$SUMS" ] || die "$SUMS is missing"

# sha256 FILE -> prints the hex digest (python3, so it works where sha256sum does not exist).
sha256() {
    python3 -c 'import hashlib,sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
print(h.hexdigest())' "$1"
}

# check_dir DIR -> prints one line per problem; returns non-zero when any file is missing or wrong.
check_dir() {
    local dir="$1" bad=0 want name got
    while read -r want name; do
        [ -n "${want:-}" ] || continue
        case "$want" in \#*) continue ;; esac
        if [ ! -f "$dir/$name" ]; then
            echo "  $dir/$name: missing"
            bad=1
            continue
        fi
        got="$(sha256 "$dir/$name")"
        if [ "$got" != "$want" ]; then
            echo "  $dir/$name: SHA-256 mismatch: expected $want, got $got"
            bad=1
        fi
    done <"$SUMS"
    return "$bad"
}

NAMES="$(awk '!/^#/ && NF == 2 { sub(/\.csv$/, "", $2); printf "%s ", $2 }' "$SUMS")"
NAMES="${NAMES% }"

if report="$(check_dir "$DATA_DIR")"; then
    say "all sets present and verified in $DATA_DIR/ ($NAMES); nothing downloaded"
    exit 0
fi
say "need to fetch:"
echo "$report"

python3 -m pip --version >/dev/null 2>&1 || die "python3 -m pip is not available (install python3-pip)"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/pimtl-fetch.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

say "downloading $PACKAGE from PyPI with pip (no dependencies)"
python3 -m pip download --no-deps --disable-pip-version-check --quiet "$PACKAGE" -d "$TMP/dl" \
    || die "pip download of $PACKAGE failed (is PyPI reachable?)"

ARCHIVE="$(find "$TMP/dl" -maxdepth 1 -type f \( -name '*.whl' -o -name '*.tar.gz' -o -name '*.zip' \) | head -n 1)"
[ -n "$ARCHIVE" ] || die "pip downloaded no wheel or sdist into $TMP/dl"
say "downloaded $(basename "$ARCHIVE") ($(wc -c <"$ARCHIVE" | tr -d ' ') bytes)"

mkdir -p "$TMP/csv"
python3 - "$ARCHIVE" "$TMP/csv" <<'PY'
import os, re, sys, tarfile, zipfile
archive, out = sys.argv[1], sys.argv[2]
pattern = re.compile(r"(^|/)universal/data/([A-Za-z0-9_]+\.csv)$")
found = 0
def save(name, data):
    global found
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    found += 1
if zipfile.is_zipfile(archive):
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            m = pattern.search(info.filename)
            if m:
                save(m.group(2), z.read(info))
else:
    with tarfile.open(archive) as t:
        for member in t.getmembers():
            m = pattern.search(member.name)
            if m and member.isfile():
                save(m.group(2), t.extractfile(member).read())
if found == 0:
    sys.exit("no universal/data/*.csv inside " + archive)
print("fetch-data: extracted %d CSV files from %s" % (found, os.path.basename(archive)))
PY

if ! report="$(check_dir "$TMP/csv")"; then
    echo "$report" >&2
    die "the downloaded files do not match $SUMS; $DATA_DIR/ left unchanged. If PyPI's $PACKAGE really changed, inspect the files and update $SUMS deliberately."
fi

mkdir -p "$DATA_DIR"
while read -r want name; do
    [ -n "${want:-}" ] || continue
    case "$want" in \#*) continue ;; esac
    cp "$TMP/csv/$name" "$DATA_DIR/.$name.tmp-$$"
    mv -f "$DATA_DIR/.$name.tmp-$$" "$DATA_DIR/$name"
    rows=$(($(wc -l <"$DATA_DIR/$name") - 1))
    cols=$(head -n 1 "$DATA_DIR/$name" | awk -F, '{ print NF }')
    say "$DATA_DIR/$name: $cols assets x $rows days, sha256 ${want:0:16}… ok"
done <"$SUMS"

check_dir "$DATA_DIR" >/dev/null || die "verification of $DATA_DIR/ failed after copying"
say "done: $NAMES verified in $DATA_DIR/"
