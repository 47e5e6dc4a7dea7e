#!/usr/bin/env bash
# Installs moto's server, pinned, from PyPI into a Python virtual environment
# under .cache/ (ignored by git). The tests use it as a local AWS KMS
# (test/support/kms-server.ts):
#
#   .cache/moto/venv/          python3 -m venv, with moto[server]==5.2.5
#   .cache/bin/moto            a link to the venv's moto_server
#   .cache/bin/moto.version    the requirement it was installed from
#
# Usage: scripts/install-moto.sh   (scripts/install-test-servers.sh runs it)
#
# Skipped when that requirement is installed already and the venv's Python
# still runs, so a second run takes milliseconds; a cold install downloads
# about 60 packages (some 300 MB installed) and takes one to two minutes.
# Needs python3 (3.9 or newer, with the venv module; PYTHON=... picks
# another). Concurrent runs are serialised with flock.
set -euo pipefail

REQUIREMENT='moto[server]==5.2.5'

cd "$(dirname "$0")/.."
bin="$PWD/.cache/bin"
venv="$PWD/.cache/moto/venv"
mkdir -p "$bin"

(
  flock 9
  # -x follows the links: the venv's python is a link to the interpreter it was made with.
  if [[ -x $bin/moto && -x $venv/bin/python && "$(cat "$bin/moto.version" 2>/dev/null)" == "$REQUIREMENT" ]]; then
    echo "install-moto: $REQUIREMENT already installed" >&2
    exit 0
  fi
  python=${PYTHON:-python3}
  if ! command -v "$python" >/dev/null; then
    echo "install-moto: $python is needed to install $REQUIREMENT (Python 3.9 or newer, with venv)" >&2
    exit 1
  fi
  echo "install-moto: installing $REQUIREMENT into .cache/moto/venv ..." >&2
  started=$SECONDS
  rm -rf "$venv" "$bin/moto" "$bin/moto.version"
  if ! "$python" -m venv "$venv"; then
    echo "install-moto: '$python -m venv' failed (on Debian or Ubuntu: apt-get install python3-venv)" >&2
    exit 1
  fi
  "$venv/bin/python" -m pip install --quiet --no-input --disable-pip-version-check "$REQUIREMENT"
  ln -s ../moto/venv/bin/moto_server "$bin/moto"
  echo "$REQUIREMENT" >"$bin/moto.version"
  echo "install-moto: installed $REQUIREMENT in $((SECONDS - started)) s" >&2
) 9>"$bin/moto.lock"
