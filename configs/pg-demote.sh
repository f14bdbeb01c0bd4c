#!/usr/bin/env bash
# pg-demote.sh - turn this node's PostgreSQL primary into a streaming standby
# of the peer's (new) primary. An example demote_command for pbxha:
#
#   database:
#     demote_command: [/usr/share/pbxha/pg-demote.sh]   # where the Debian package puts it
#     env: [PG_CLUSTER=15/main, "PRIMARY_CONNINFO=host=10.0.0.2 user=replicator"]
#
# Steps: stop the local server (fast, then immediate if fast does not finish),
# pg_rewind it onto the new primary's timeline, write standby.signal and
# primary_conninfo (postgresql.auto.conf), start it. If any step fails, the
# server is left stopped: never a second writable primary.
#
# pg_rewind needs wal_log_hints = on (or data checksums) and full_page_writes
# = on; a superuser (or a user granted pg_rewind's functions and
# pg_checkpoint) in PRIMARY_CONNINFO; and this server's WAL back to where the
# timelines diverged: set wal_keep_size, or pass PG_REWIND_OPTS=
# --restore-target-wal with a WAL archive. Replication needs a pg_hba.conf
# "replication" entry on the new primary. Keep passwords in the owner's
# ~/.pgpass, not here.
#
# Parameters (environment variables):
#   PG_CLUSTER        Debian cluster "VERSION/NAME" (15/main). Stop and start
#                     go through pg_ctlcluster (systemctl when run as root
#                     under systemd); PGDATA and the config file come from
#                     the cluster. Unset: plain pg_ctl on PGDATA.
#   PGDATA            data directory. Required without PG_CLUSTER.
#   PGBIN             directory of pg_ctl, pg_rewind and psql. Default:
#                     /usr/lib/postgresql/$(cat $PGDATA/PG_VERSION)/bin, else
#                     pg_config --bindir, else the directory of pg_ctl in PATH.
#   PRIMARY_CONNINFO  libpq connection string of the new primary, used for
#                     pg_rewind and as primary_conninfo. Default: built from
#                     PBXHA_PEER_HOST and PBXHA_PEER_PORT (set by pbxha) with
#                     user=$PG_REPL_USER (default postgres), dbname=postgres.
#   PRIMARY_SLOT_NAME replication slot on the new primary; unset: none (a
#                     primary_slot_name copied by pg_rewind is removed).
#   PG_CTL_OPTS       options for the server at start (pg_ctl -o), e.g.
#                     "-p 5433". Plain pg_ctl mode only.
#   PG_LOG            server log of pg_ctl start. Default: PGDATA.pbxha.log
#                     beside the data directory. Plain pg_ctl mode only.
#   PG_REWIND_OPTS    extra pg_rewind options, e.g. "--restore-target-wal".
#   PG_STOP_TIMEOUT   seconds to wait for each stop attempt (default 30).
#                     Plain pg_ctl mode only (systemd's unit timeouts apply
#                     to pg_ctlcluster).
#   PG_START_TIMEOUT  seconds to wait for the standby to accept connections
#                     (default 60). Plain pg_ctl mode only.
#   PG_PRIMARY_WAIT   seconds to keep trying to reach the new primary
#                     (default 30): right after a partition heals the first
#                     connections may fail with "No route to host". Each
#                     try gives up after PGCONNECT_TIMEOUT (default 5).
#                     With PBXHA_ACTION=rejoin (set by pbxha when it stopped
#                     the server first and rejoins it after the peer's
#                     promotion), it also bounds the wait for the new
#                     primary to leave recovery.
#   PG_OWNER          system user that owns the cluster (default: owner of
#                     PGDATA). When run as root, pg_ctl and pg_rewind run as
#                     this user.
#
# Exit codes:
#   0  the server runs as a standby of PRIMARY_CONNINFO
#   2  bad parameters; nothing was changed
#   3  the server could not be stopped: it may still be a writable primary
#   4  the new primary could not be reached within PG_PRIMARY_WAIT, was not
#      promoted within it (PBXHA_ACTION=rejoin), refused CHECKPOINT, or
#      pg_rewind failed; the server is stopped
#   5  the standby configuration could not be written; the server is stopped
#   6  the server did not start as a standby; it is stopped or starting
set -euo pipefail

die() { # die CODE MESSAGE
	echo "pg-demote: $2" >&2
	exit "$1"
}
log() { echo "pg-demote: $*" >&2; }

# --- parameters -------------------------------------------------------------

conf_file=""
if [[ -n ${PG_CLUSTER:-} ]]; then
	[[ $PG_CLUSTER =~ ^([0-9]+(\.[0-9]+)?)/([A-Za-z0-9_.-]+)$ ]] ||
		die 2 "PG_CLUSTER=$PG_CLUSTER: want VERSION/NAME, e.g. 15/main"
	pg_version=${BASH_REMATCH[1]}
	pg_name=${BASH_REMATCH[3]}
	conf_file=/etc/postgresql/$pg_version/$pg_name/postgresql.conf
	[[ -f $conf_file ]] || die 2 "PG_CLUSTER=$PG_CLUSTER: $conf_file not found"
	if [[ -z ${PGDATA:-} ]]; then
		PGDATA=$(pg_conftool -s "$pg_version" "$pg_name" show data_directory 2>/dev/null) ||
			PGDATA=/var/lib/postgresql/$pg_version/$pg_name
	fi
fi
[[ -n ${PGDATA:-} ]] || die 2 "PGDATA is not set (or set PG_CLUSTER)"
[[ -f $PGDATA/PG_VERSION ]] || die 2 "PGDATA=$PGDATA: not a PostgreSQL data directory (no PG_VERSION)"
PGDATA=$(cd -- "$PGDATA" && pwd -P)

if [[ -z ${PGBIN:-} ]]; then
	ver=$(<"$PGDATA/PG_VERSION")
	if [[ -x /usr/lib/postgresql/$ver/bin/pg_rewind ]]; then
		PGBIN=/usr/lib/postgresql/$ver/bin
	elif command -v pg_config >/dev/null && [[ -x $(pg_config --bindir)/pg_rewind ]]; then
		PGBIN=$(pg_config --bindir)
	elif command -v pg_ctl >/dev/null; then
		PGBIN=$(dirname -- "$(command -v pg_ctl)")
	fi
fi
for prog in pg_ctl pg_rewind psql; do
	[[ -x ${PGBIN:-}/$prog ]] || die 2 "PGBIN=${PGBIN:-}: $prog not found (set PGBIN)"
done

if [[ -z ${PRIMARY_CONNINFO:-} ]]; then
	[[ -n ${PBXHA_PEER_HOST:-} ]] || die 2 "PRIMARY_CONNINFO is not set and pbxha passed no PBXHA_PEER_HOST"
	PRIMARY_CONNINFO="host=${PBXHA_PEER_HOST} port=${PBXHA_PEER_PORT:-5432} user=${PG_REPL_USER:-postgres} dbname=postgres"
fi

PG_OWNER=${PG_OWNER:-$(stat -c %U -- "$PGDATA")}
owner_home=$(getent passwd "$PG_OWNER" | cut -d: -f6) || die 2 "PG_OWNER=$PG_OWNER: no such user"
stop_timeout=${PG_STOP_TIMEOUT:-30}
start_timeout=${PG_START_TIMEOUT:-60}
[[ $stop_timeout =~ ^[0-9]+$ && $start_timeout =~ ^[0-9]+$ ]] ||
	die 2 "PG_STOP_TIMEOUT and PG_START_TIMEOUT must be whole seconds"
primary_wait=${PG_PRIMARY_WAIT:-30}
[[ $primary_wait =~ ^[0-9]+$ ]] || die 2 "PG_PRIMARY_WAIT must be whole seconds"
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-5}
PG_LOG=${PG_LOG:-$PGDATA.pbxha.log}
read -ra ctl_opts <<<"${PG_CTL_OPTS:-}"
read -ra rewind_opts <<<"${PG_REWIND_OPTS:-}"

# as_owner runs a command as the cluster's owner: PostgreSQL's tools refuse
# to run as root. The environment is kept; HOME points at the owner's home so
# that its ~/.pgpass is used.
as_owner() {
	if [[ $(id -u) -eq 0 && $PG_OWNER != root ]]; then
		HOME=$owner_home setpriv --reuid="$PG_OWNER" --regid="$(id -g "$PG_OWNER")" --init-groups -- "$@"
	else
		"$@"
	fi
}

# The owner must be able to look up its working directory.
cd /

running() { as_owner "$PGBIN/pg_ctl" status -D "$PGDATA" >/dev/null 2>&1; }

# --- stop -------------------------------------------------------------------

stop_server() { # stop_server MODE
	if [[ -n ${PG_CLUSTER:-} ]]; then
		# No pg_ctl options: they would bypass the redirect to systemctl.
		pg_ctlcluster -m "$1" "$pg_version" "$pg_name" stop >&2
	else
		as_owner "$PGBIN/pg_ctl" stop -D "$PGDATA" -m "$1" -w -t "$stop_timeout" >&2
	fi
}

if running; then
	log "stopping the server in $PGDATA"
	if ! stop_server fast; then
		log "fast shutdown did not finish; stopping immediately"
		stop_server immediate || true
	fi
	running && die 3 "the server in $PGDATA is still running"
else
	log "the server in $PGDATA is not running"
fi

# --- rewind -----------------------------------------------------------------

# PBXHA_ACTION=rejoin: pbxha stopped this server and then told the peer to
# promote, which may not have happened yet. Rewinding from a source still in
# recovery would find "no rewind required" even when this server has WAL the
# new primary lacks (a forced switchover): wait for the promotion first. (A
# plain demote runs before the peer may promote: it must not wait.)
if [[ ${PBXHA_ACTION:-} == rejoin ]]; then
	log "waiting for the new primary to leave recovery"
	deadline=$((SECONDS + primary_wait))
	until [[ $(as_owner "$PGBIN/psql" -X -q -At -d "$PRIMARY_CONNINFO" -c "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]]; do
		((SECONDS < deadline)) ||
			die 4 "the new primary was not out of recovery within ${primary_wait}s; the server in $PGDATA stays stopped"
		sleep 0.1
	done
fi

# A checkpoint on the new primary first: until its end-of-recovery
# checkpoint completes, its control file still names the old timeline, and
# pg_rewind would wrongly find "no rewind required" right after a promotion.
log "checkpoint on the new primary"
deadline=$((SECONDS + primary_wait))
until as_owner "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$PRIMARY_CONNINFO" -c CHECKPOINT >&2; do
	((SECONDS < deadline)) ||
		die 4 "CHECKPOINT on the new primary failed for ${primary_wait}s; the server in $PGDATA stays stopped"
	log "the new primary did not take CHECKPOINT; trying again"
	sleep 1
done

rewind_args=(--target-pgdata="$PGDATA" --source-server="$PRIMARY_CONNINFO")
[[ -n $conf_file ]] && rewind_args+=(--config-file="$conf_file")
log "rewinding $PGDATA from the new primary"
as_owner "$PGBIN/pg_rewind" "${rewind_args[@]}" "${rewind_opts[@]}" >&2 ||
	die 4 "pg_rewind failed; the server in $PGDATA stays stopped"

# --- standby configuration --------------------------------------------------

# conf_quote quotes a value for postgresql.conf: backslashes and single
# quotes are doubled.
conf_quote() {
	local v=${1//\\/\\\\}
	printf "'%s'" "${v//\'/\'\'}"
}

# write_standby_conf returns non-zero at the first failed step (set -e does
# not apply inside a function called from an || list).
write_standby_conf() {
	local auto=$PGDATA/postgresql.auto.conf tmp
	tmp=$(mktemp "$PGDATA/postgresql.auto.conf.XXXXXX") || return 1
	# pg_rewind copied the new primary's file: its primary_conninfo and
	# primary_slot_name pointed at this server.
	if [[ -f $auto ]]; then
		# grep exits 1 when it selects no line: not an error here.
		grep -Ev '^[[:space:]]*(primary_conninfo|primary_slot_name)[[:space:]]*=' "$auto" >"$tmp" ||
			(($? == 1)) || return 1
	fi
	echo "primary_conninfo = $(conf_quote "$PRIMARY_CONNINFO")" >>"$tmp" || return 1
	if [[ -n ${PRIMARY_SLOT_NAME:-} ]]; then
		echo "primary_slot_name = $(conf_quote "$PRIMARY_SLOT_NAME")" >>"$tmp" || return 1
	fi
	chmod 0600 "$tmp" || return 1
	chown --reference="$PGDATA/PG_VERSION" "$tmp" || return 1
	mv -f -- "$tmp" "$auto" || return 1
	touch "$PGDATA/standby.signal" || return 1
	chown --reference="$PGDATA/PG_VERSION" "$PGDATA/standby.signal" || return 1
}
write_standby_conf || die 5 "cannot write the standby configuration in $PGDATA; the server stays stopped"

# --- start ------------------------------------------------------------------

log "starting $PGDATA as a standby"
if [[ -n ${PG_CLUSTER:-} ]]; then
	pg_ctlcluster "$pg_version" "$pg_name" start >&2 ||
		die 6 "the standby did not start; see the cluster's log"
else
	start_args=(start -D "$PGDATA" -w -t "$start_timeout" -l "$PG_LOG")
	((${#ctl_opts[@]})) && start_args+=(-o "${ctl_opts[*]}")
	as_owner "$PGBIN/pg_ctl" "${start_args[@]}" >&2 ||
		die 6 "the standby did not start; see $PG_LOG"
fi
log "$PGDATA runs as a standby"
