# Sourced by .ci/run: a throw-away PostgreSQL server for the sweep tests.
#   pg_start  installs Debian's postgresql if absent, initdb's a temporary cluster owned by
#             the postgres user, listens on 127.0.0.1 at a free port and exports
#             GLASSNET_TEST_POSTGRES_URL; on failure it says why and returns non-zero
#             (.ci/run then fails: CI never runs the sweep tests without a server).
#   pg_stop   stops that server and removes its folder (safe to call twice).

pg_start() {
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } \
      || { echo "error: could not install postgresql" >&2; return 1; }
  fi
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  PG_BIN="$bin"
  PG_DIR="$(mktemp -d /tmp/glassnet-pg.XXXXXX)"
  chown postgres "$PG_DIR"
  local port
  port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  runuser -u postgres -- "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  runuser -u postgres -- "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$PG_DIR -c max_connections=200 -c fsync=off" \
    >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
  export GLASSNET_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
  echo "PostgreSQL running for the sweep tests on 127.0.0.1:$port"
}

pg_stop() {
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
  PG_DIR=""
}
