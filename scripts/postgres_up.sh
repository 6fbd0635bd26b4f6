#!/usr/bin/env bash
# Makes a PostgreSQL server available for the `postgres` dbt target, idempotently.
#
#   1. If a server already answers on PGHOST:PGPORT (default 127.0.0.1:5432), use it.
#   2. Otherwise install the Debian package `postgresql` when it is missing
#      (`apt-get update` only when the install fails without it), create a cluster when
#      there is none, and start it.
#   3. Make sure the role PGUSER (default audiences, password PGPASSWORD, default audiences;
#      LOGIN CREATEDB) and the database PGDATABASE (default audiences) exist.
#
#   4. With --fresh: drop PGDATABASE and create it again, empty (for a test database that is
#      rebuilt from freshly generated data: incremental models must not see an older build).
#
# Runs non-interactively as root on a fresh Debian/Ubuntu machine. Prints every action it
# takes; exits non-zero with a message saying what to do when it cannot succeed.
set -euo pipefail

PGHOST="${PGHOST:-127.0.0.1}"
PGPORT="${PGPORT:-5432}"
PGUSER="${PGUSER:-audiences}"
PGPASSWORD="${PGPASSWORD:-audiences}"
PGDATABASE="${PGDATABASE:-audiences}"
FRESH=0
if [ "${1:-}" = "--fresh" ]; then
    FRESH=1
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck source=lib/apt_install.sh
. "$(dirname "$0")/lib/apt_install.sh"

say() { echo "postgres-up: $*"; }
fail() {
    echo "postgres-up: ERROR: $*" >&2
    exit 1
}

is_local_host() {
    case "$PGHOST" in
        127.0.0.1 | localhost | ::1 | /*) return 0 ;;
        *) return 1 ;;
    esac
}

server_answers() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$PGHOST" -p "$PGPORT" -t 2
        return $?
    fi
    # no client tools yet: a TCP connect is enough to know something listens there
    (exec 3<>"/dev/tcp/$PGHOST/$PGPORT") 2>/dev/null
}

as_postgres() {
    # runs a command as the cluster's superuser over the local socket
    if [ "$(id -un)" = postgres ]; then
        env -u PGHOST -u PGUSER -u PGPASSWORD -u PGDATABASE "$@"
    elif [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- env -u PGHOST -u PGUSER -u PGPASSWORD -u PGDATABASE "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n -u postgres env -u PGHOST -u PGUSER -u PGPASSWORD -u PGDATABASE "$@"
    else
        return 1
    fi
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        fail "no PostgreSQL server on $PGHOST:$PGPORT and not root (nor passwordless sudo) to install one. Start a server and set PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE, or run this script as root."
    fi
}

login_works() {
    # login_works [database]: can PGUSER log in (to PGDATABASE by default)?
    command -v psql >/dev/null 2>&1 || return 2
    PGPASSWORD="$PGPASSWORD" PGCONNECT_TIMEOUT=5 psql -X -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" \
        -d "${1:-$PGDATABASE}" -Atqc 'select 1' >/dev/null 2>&1
}

create_database_as_user() {
    # the role exists and may create databases (CREATEDB): no superuser needed
    login_works postgres || return 1
    say "creating database $PGDATABASE as $PGUSER"
    PGPASSWORD="$PGPASSWORD" psql -X -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" \
        -d postgres -Atqc "create database \"$(printf '%s' "$PGDATABASE" | sed 's/"/""/g')\"" \
        >/dev/null
}

install_server() {
    apt_install postgresql "no PostgreSQL server on $PGHOST:$PGPORT and no apt-get to install one (this script installs the Debian package only). Install PostgreSQL yourself and set PGHOST/PGPORT."
    say "installed $(ls /usr/lib/postgresql | sort -V | tail -n 1 | sed 's/^/PostgreSQL /')"
}

start_local_cluster() {
    command -v pg_lsclusters >/dev/null 2>&1 || install_server
    local version
    version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
    [ -n "$version" ] || fail "package postgresql is installed but /usr/lib/postgresql is empty"
    # a cluster on the wanted port, else create one there
    local cluster
    cluster="$(pg_lsclusters -h 2>/dev/null | awk -v port="$PGPORT" '$3 == port { print $1 " " $2; exit }')"
    if [ -z "$cluster" ]; then
        local name=main
        if pg_lsclusters -h 2>/dev/null | awk '{ print $1 " " $2 }' | grep -qx "$version main"; then
            name="audiences_$PGPORT"
        fi
        say "creating cluster $version/$name on port $PGPORT"
        as_root pg_createcluster --port "$PGPORT" "$version" "$name" >/dev/null
        cluster="$version $name"
    fi
    set -- $cluster
    say "starting cluster $1/$2 (pg_ctlcluster $1 $2 start)"
    as_root pg_ctlcluster --skip-systemctl-redirect "$1" "$2" start \
        || fail "pg_ctlcluster could not start cluster $1/$2; see /var/log/postgresql/postgresql-$1-$2.log"
    for _ in $(seq 1 30); do
        if server_answers; then
            say "server is up on $PGHOST:$PGPORT"
            return 0
        fi
        sleep 1
    done
    fail "cluster $1/$2 started but nothing answers on $PGHOST:$PGPORT after 30 s; see /var/log/postgresql/postgresql-$1-$2.log"
}

ensure_role_and_database() {
    local sql_user sql_password
    sql_user="$(printf '%s' "$PGUSER" | sed 's/"/""/g')"
    sql_password="$(printf '%s' "$PGPASSWORD" | sed "s/'/''/g")"
    local psql_su=(psql -X -v ON_ERROR_STOP=1 -p "$PGPORT" -d postgres -Atq)
    as_postgres "${psql_su[@]}" -c 'select 1' >/dev/null 2>&1 \
        || fail "cannot run psql as the 'postgres' superuser to create role '$PGUSER' (need root or the postgres account). Create it yourself: CREATE ROLE \"$PGUSER\" LOGIN CREATEDB PASSWORD '...'; CREATE DATABASE \"$PGDATABASE\" OWNER \"$PGUSER\";"
    if [ "$(as_postgres "${psql_su[@]}" -c "select count(*) from pg_roles where rolname = '$(printf '%s' "$PGUSER" | sed "s/'/''/g")'")" = 0 ]; then
        say "creating role $PGUSER (LOGIN CREATEDB)"
        as_postgres "${psql_su[@]}" \
            -c "create role \"$sql_user\" login createdb password '$sql_password'" >/dev/null
    else
        say "role $PGUSER exists"
    fi
    if [ "$(as_postgres "${psql_su[@]}" -c "select count(*) from pg_database where datname = '$(printf '%s' "$PGDATABASE" | sed "s/'/''/g")'")" = 0 ]; then
        say "creating database $PGDATABASE owned by $PGUSER"
        as_postgres "${psql_su[@]}" \
            -c "create database \"$(printf '%s' "$PGDATABASE" | sed 's/"/""/g')\" owner \"$sql_user\"" >/dev/null
    else
        say "database $PGDATABASE exists"
    fi
}

recreate_database() {
    # --fresh: the database again, empty (its owner PGUSER may drop it)
    local name
    name="$(printf '%s' "$PGDATABASE" | sed 's/"/""/g')"
    say "recreating database $PGDATABASE empty (--fresh)"
    PGPASSWORD="$PGPASSWORD" psql -X -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" \
        -d postgres -Atq -c "drop database if exists \"$name\" with (force)" \
        -c "create database \"$name\"" >/dev/null \
        || fail "could not drop and create database $PGDATABASE as $PGUSER (is $PGUSER its owner?)"
}

finish() {
    if [ "$FRESH" = 1 ]; then
        recreate_database
    fi
    say "ready: postgresql://$PGUSER@$PGHOST:$PGPORT/$PGDATABASE"
    exit 0
}

if server_answers; then
    say "a server answers on $PGHOST:$PGPORT; using it"
    if login_works; then
        say "role $PGUSER can log in to database $PGDATABASE"
        finish
    fi
    if create_database_as_user && login_works; then
        finish
    fi
    if ! is_local_host; then
        if command -v psql >/dev/null 2>&1; then
            fail "the server on $PGHOST:$PGPORT refuses user '$PGUSER' on database '$PGDATABASE'. Create the role and database there, or set PGUSER/PGPASSWORD/PGDATABASE."
        fi
        say "psql is not installed; cannot verify the login (dbt will report it if it fails)"
        exit 0
    fi
    command -v pg_lsclusters >/dev/null 2>&1 \
        || fail "a server answers on $PGHOST:$PGPORT but refuses user '$PGUSER' and it is not a Debian cluster this script can administer. Create the role and database there."
else
    is_local_host \
        || fail "no PostgreSQL server answers on $PGHOST:$PGPORT, and it is not this machine. Start it, or unset PGHOST to use a local server."
    say "no server answers on $PGHOST:$PGPORT; starting a local one"
    start_local_cluster
fi

ensure_role_and_database
login_works || fail "role $PGUSER still cannot log in to $PGDATABASE on $PGHOST:$PGPORT with the given password (check pg_hba.conf allows password logins from $PGHOST)"
finish
