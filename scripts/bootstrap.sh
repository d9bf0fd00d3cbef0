#!/usr/bin/env bash
# Brings a fresh Debian machine to where crossalert runs: Python >= 3.11 with the project in
# .venv, Java >= 17, Maven, the Kafka broker's jars and the PostgreSQL server binaries. Sourced
# by scripts/up and scripts/test; every step is skipped when already done, so it is cheap to run
# each time.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CROSSALERT_HOME="$REPO_ROOT"
cd "$REPO_ROOT"

say() { echo "bootstrap: $*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -q
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

find_python() {
  local candidate
  for candidate in python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

ensure_venv() {
  if [ -x .venv/bin/python ] && .venv/bin/python -c 'import sys' 2>/dev/null; then
    return 0
  fi
  local python
  if ! python="$(find_python)"; then
    say "installing Python 3"
    apt_install python3 python3-venv
    python="$(find_python)"
  fi
  say "creating .venv with $python"
  rm -rf .venv
  # Debian ships the venv module's pip bootstrap in a separate package.
  if ! "$python" -m venv .venv 2>/dev/null; then
    apt_install python3-venv
    rm -rf .venv
    "$python" -m venv .venv
  fi
}

ensure_project_installed() {
  # Reinstall only when the dependencies (pyproject.toml) or the checkout's place changed.
  local stamp=.venv/.crossalert-installed
  local wanted
  wanted="$(sha256sum pyproject.toml | cut -d' ' -f1) $REPO_ROOT"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    return 0
  fi
  say "installing crossalert and its test tools into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
  echo "$wanted" >"$stamp"
}

java_major_version() {
  local java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
  command -v "$java" >/dev/null || { echo 0; return 0; }
  "$java" -version 2>&1 | sed -nE '1s/.*version "([0-9]+).*/\1/p'
}

ensure_java_and_maven() {
  if [ "$(java_major_version)" -lt 17 ]; then
    say "installing Java 17 or newer"
    # Debian 12 has openjdk-17; later releases only newer ones, as their default JDK.
    if apt-cache show openjdk-17-jdk-headless >/dev/null 2>&1; then
      apt_install openjdk-17-jdk-headless
    else
      apt_install default-jdk-headless
    fi
    if [ "$(java_major_version)" -lt 17 ]; then
      say "JAVA_HOME=${JAVA_HOME:-} points at a Java older than 17; unset it or point it at 17+"
      return 1
    fi
  fi
  if ! command -v mvn >/dev/null; then
    say "installing Maven"
    apt_install maven
  fi
}

ensure_postgres_server() {
  # The tests run their own cluster from Debian's server binaries (initdb, pg_ctl, postgres);
  # the package also creates the postgres user, which runs the server when we are root.
  if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    return 0
  fi
  say "installing the PostgreSQL server"
  apt_install postgresql
}

ensure_chromium() {
  # The console tests drive Debian's Chromium headless through Playwright, never a browser a
  # test tool downloads (those downloads fail on these machines).
  if command -v chromium >/dev/null; then
    return 0
  fi
  say "installing Chromium for the console tests"
  apt_install chromium fonts-dejavu-core
}

ensure_kafka_jars() {
  .venv/bin/python - <<'PY'
import sys

from services.localnet.kafka import LocalKafkaError, ensure_jars, repo_root

try:
    ensure_jars(repo_root())
except LocalKafkaError as error:
    sys.exit(f"bootstrap: {error}\n{error.detail}")
PY
}

ensure_venv
ensure_project_installed
ensure_java_and_maven
ensure_postgres_server
ensure_chromium
ensure_kafka_jars
