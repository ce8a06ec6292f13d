#!/usr/bin/env bash
# Make a PostgreSQL server available to the tests and print its URL on stdout (progress goes to stderr).
#
#   .ci/postgres.sh            print $AGENTLEDGER_TEST_PG_URL when set; otherwise start a throwaway cluster
#                              on 127.0.0.1 and a free port (installing the postgresql package when no
#                              initdb/pg_ctl exists) and print its URL
#   .ci/postgres.sh stop DIR   stop the cluster started in DIR and delete DIR
#
# AGENTLEDGER_PG_DIR picks the cluster's directory (default: a new one under /tmp). PostgreSQL refuses to
# run as root, so as root the cluster belongs to the "postgres" user (created when missing).
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

os_user=""
as_owner() {
  if [ -z "$os_user" ]; then
    "$@"
  elif command -v runuser >/dev/null; then
    runuser -u "$os_user" -- "$@"
  else
    su "$os_user" -s /bin/sh -c "$(printf '%q ' "$@")"
  fi
}

find_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(readlink -f "$(command -v initdb)")"; return 0
  fi
  return 1
}

install_postgres() {
  log "no initdb/pg_ctl found: installing the postgresql package"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >&2
}

pick_os_user() {
  [ "$(id -u)" = 0 ] || return 0
  if ! id postgres >/dev/null 2>&1; then
    log "creating the system user postgres (the server cannot run as root)"
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  fi
  os_user=postgres
}

free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  return 1
}

stop_cluster() {
  local dir="$1"
  [ -d "$dir/data" ] || die "no cluster in $dir"
  local bindir owner
  bindir=$(find_bindir) || die "pg_ctl not found"
  owner=$(stat -c %U "$dir/data")
  [ "$owner" = "$(id -un)" ] || os_user="$owner"
  as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || log "pg_ctl stop failed (already stopped?)"
  rm -rf "$dir"
}

start_cluster() {
  local bindir dir port
  bindir=$(find_bindir) || { install_postgres; bindir=$(find_bindir); } || die "PostgreSQL could not be installed"
  pick_os_user
  dir="${AGENTLEDGER_PG_DIR:-$(mktemp -d /tmp/agentledger-pg.XXXXXX)}"
  mkdir -p "$dir"
  [ -z "$os_user" ] || chown -R "$os_user" "$dir"
  as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
    || die "initdb failed: $(tail -n 20 "$dir/initdb.log")"
  for _ in 1 2 3 4 5; do
    port=$(free_port) || die "no free port found"
    if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
         -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >&2; then
      echo "postgresql://postgres@127.0.0.1:$port/postgres"
      log "PostgreSQL $("$bindir/pg_ctl" --version | awk '{print $3}') running in $dir; stop it with: $0 stop $dir"
      return 0
    fi
    log "start on port $port failed, trying another: $(tail -n 3 "$dir/server.log" 2>/dev/null)"
  done
  die "PostgreSQL would not start: see $dir/server.log"
}

case "${1:-start}" in
  stop) [ $# -ge 2 ] || die "usage: $0 stop DIR"; stop_cluster "$2" ;;
  start)
    if [ -n "${AGENTLEDGER_TEST_PG_URL:-}" ]; then echo "$AGENTLEDGER_TEST_PG_URL"; exit 0; fi
    start_cluster ;;
  *) die "usage: $0 [start | stop DIR]" ;;
esac
