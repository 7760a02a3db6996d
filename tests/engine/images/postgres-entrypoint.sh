#!/bin/sh
# The entrypoint of the engine test's substitute for the official postgres image, doing what
# the official one does for this lab (docker-library/postgres docker-entrypoint.sh):
#  - as root: own the data and socket directories, then run again as the postgres user;
#  - on an empty data directory: initdb with POSTGRES_USER and POSTGRES_PASSWORD, listen on
#    every address with password authentication from outside, create POSTGRES_DB, and run
#    /docker-entrypoint-initdb.d/*.sql and *.sh on a temporary server that listens only on
#    its socket (so a TCP healthcheck passes only once they are in);
#  - then exec the command (`postgres -c ...`), so that postgres is PID 1 and gets the stop
#    signal.
set -eu

run_psql() { psql -v ON_ERROR_STOP=1 --no-psqlrc --username="$POSTGRES_USER" "$@"; }

if [ "${1#-}" != "$1" ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  chmod 2775 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?the official image refuses to start without POSTGRES_PASSWORD too}"
  POSTGRES_USER=${POSTGRES_USER:-postgres}
  POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"

  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$POSTGRES_DB" != postgres ]; then
    run_psql --dbname=postgres --set db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sql) echo "running $f"; run_psql --dbname="$POSTGRES_DB" -f "$f" >/dev/null ;;
      *.sh) echo "running $f"; . "$f" ;;
      *) ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
