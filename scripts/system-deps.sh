#!/bin/sh
# Install the system tools the tests and benchmarks use, when running as root on Debian.
# Elsewhere it only reports what is missing: those tests skip with the reason (and fail under CI=true).
set -eu
PACKAGES="openssl gnutls-bin nginx golang-cfssl wrk softhsm2 chromium curl redis-server certbot lego faketime libfaketime"
missing=""
for pkg in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing system packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >/dev/null
else
    echo "missing system packages:$missing (not root or not Debian: the tests that need them will skip)"
fi
