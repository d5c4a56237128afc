#!/usr/bin/env bash
# Installs the Debian packages hullcheck's demo and tests use. Idempotent; quiet when all are present.
set -euo pipefail
PKGS=(docker-registry skopeo umoci debootstrap rpm db5.3-util golang-go apache2-utils busybox python3-venv
      golang-github-knqyf263-go-rpmdb-dev go-rpmdb
      gcc binutils curl openssl libpython3.11
      postgresql   # the fleet store's tests start a real server (tests/fixtures/postgres.py)
      chromium chromium-driver)  # the pages' browser tests (tests/pages/browser.py): Debian's, never downloaded
missing=()
# node and npm (the node-semver differential test): any install will do (e.g. NodeSource's
# nodejs, which bundles npm); Debian's packages when the commands are absent.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v cargo >/dev/null || missing+=(cargo)  # rustup's cargo will do too
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "installing system packages: ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
