#!/usr/bin/env bash
# Headless Chromium for the status page's browser test (test/service/status-page.test.ts),
# from Debian's packages: /usr/bin/chromium. Already there (or AEROBAK_CHROMIUM set): nothing
# to do. Otherwise it is installed with apt-get, which needs root (as on CI machines of this
# project); without root the script says what to run and fails.
set -euo pipefail
if [[ -n ${AEROBAK_CHROMIUM:-} && -x ${AEROBAK_CHROMIUM} ]] || command -v chromium > /dev/null; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get > /dev/null; then
  echo "install-chromium: chromium is missing: install Debian's package (sudo apt-get install chromium) or set AEROBAK_CHROMIUM to a Chromium binary" >&2
  exit 1
fi
echo "install-chromium: installing Debian's chromium (once)" >&2
# Serialised: two test runs at once must not run apt-get together.
exec 9> /tmp/aerobak-install-chromium.lock
flock 9
command -v chromium > /dev/null && exit 0
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium > /tmp/aerobak-install-chromium.log 2>&1 || {
  DEBIAN_FRONTEND=noninteractive apt-get update > /dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium > /tmp/aerobak-install-chromium.log 2>&1 || { tail -20 /tmp/aerobak-install-chromium.log >&2; exit 1; }
}
