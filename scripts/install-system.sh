#!/usr/bin/env bash
# Debian packages transmodal's offline backends need: Tesseract OCR with its language data, Apertium
# with the English pairs Debian ships, flite/espeak-ng voices, hunspell word lists, fonts covering Latin,
# CJK and more.
# Idempotent: installs only what is missing, so a second run does nothing.
set -euo pipefail

PACKAGES=(
  tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa tesseract-ocr-deu tesseract-ocr-fra
  tesseract-ocr-jpn tesseract-ocr-jpn-vert tesseract-ocr-chi-sim
  apertium apertium-eng-spa apertium-eng-cat apertium-en-gl apertium-eo-en apertium-eu-en
  apertium-hbs-eng apertium-isl-eng apertium-mkd-eng apertium-fr-es apertium-es-pt
  flite espeak-ng libsndfile1
  hunspell-en-us hunspell-en-gb hunspell-es hunspell-fr hunspell-de-de  # word lists: transmodal/words.py (split glued OCR words)
  fonts-dejavu-core fonts-noto-core fonts-noto-cjk fonts-comic-neue  # Comic Neue: comic lettering
  libfribidi0  # loaded at run time by Pillow's bundled libraqm (bidirectional text)
  pocketsphinx-testdata  # real read speech (LibriVox) with transcripts: tests and benchmarks/speech_real.py
  chromium chromium-driver  # headless browser for the web page's test (tests/test_web.py, Selenium)
)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all ${#PACKAGES[@]} installed"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "system packages: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
