#!/usr/bin/env bash
# Debian packages the build and the tests need, installed when missing (as root), or a loud
# failure naming them. Idempotent and quick when everything is there.
#   libtesseract-dev, libleptonica-dev  OCR (medshare-ocr links Tesseract 5 and Leptonica)
#   libclang-dev                        the tesseract/leptonica bindings are generated at build
#   tesseract-ocr-eng/-chi-tra/-chi-sim language data: English, Traditional, Simplified Chinese
#   fonts-dejavu-core, fonts-noto-cjk   the OCR tests render their own pages with these
#   age, poppler-utils                  interoperability and PDF checks in the tests
#   img2pdf                             the browser's OCR test scans pages into an image-only PDF
set -euo pipefail
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in libtesseract-dev libleptonica-dev libclang-dev tesseract-ocr-eng tesseract-ocr-chi-tra \
         tesseract-ocr-chi-sim fonts-dejavu-core fonts-noto-cjk; do
  have_pkg "$p" || need+=("$p")
done
command -v age >/dev/null 2>&1 || need+=(age)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
command -v img2pdf >/dev/null 2>&1 || need+=(img2pdf)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "system-deps.sh: missing ${need[*]}: run as root, or apt-get install ${need[*]}" >&2
  exit 1
fi
echo "system-deps.sh: installing ${need[*]}" >&2
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
for p in "${need[@]}"; do
  case "$p" in age|poppler-utils) continue ;; esac
  have_pkg "$p" || { echo "system-deps.sh: $p did not install" >&2; exit 1; }
done
tesseract --list-langs 2>/dev/null | grep -qx chi_tra || ls /usr/share/tesseract-ocr/*/tessdata/chi_tra.traineddata >/dev/null \
  || { echo "system-deps.sh: Tesseract's chi_tra language data is missing" >&2; exit 1; }
