#!/usr/bin/env bash
# Installs the real datasets mixkit's benchmarks use from Debian packages, when apt-get is usable.
# Fashion-MNIST (dataset-fashion-mnist) and text domains (fortunes*); with the argument "audio" also the
# recorded voice prompts of the audio study (asterisk-core-sounds-*-wav). Never fails the caller.
set -u
pkgs="dataset-fashion-mnist fortunes fortunes-min fortunes-de fortunes-es fortunes-it fortunes-ru"
need=""
[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need=1
[ -d /usr/share/games/fortunes/de ] || need=1
if [ "${1:-}" = audio ]; then
  pkgs="$pkgs asterisk-core-sounds-en-wav asterisk-core-sounds-es-wav asterisk-core-sounds-fr-wav"
  pkgs="$pkgs asterisk-core-sounds-it-wav asterisk-core-sounds-ru-wav"
  [ -d /usr/share/asterisk/sounds/ru ] || need=1
fi
[ -z "$need" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  echo "mixkit: apt-get not usable here; install Debian packages '$pkgs' yourself or pass --data-dir" >&2
  exit 0
fi
apt-get update -qq >/dev/null 2>&1 || true
for p in $pkgs; do
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null 2>&1 || echo "mixkit: could not install $p" >&2
done
exit 0
