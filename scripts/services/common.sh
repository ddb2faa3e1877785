# shellcheck shell=bash disable=SC2034  # variables are used by the scripts that source this
# Shared settings for scripts/services/{start,stop,kafka-tool}. Source it, don't run it.
#
# Environment knobs (all optional):
#   AIRDIG_TEST_RUN_DIR             where servers keep data, logs, pidfiles (default <repo>/.test-services)
#   AIRDIG_TEST_MYSQL_PORT          MariaDB TCP port            (default 13306)
#   AIRDIG_TEST_REDIS_PORT          Redis port                  (default 16379)
#   AIRDIG_TEST_KAFKA_PORT          Kafka PLAINTEXT listener    (default 19092)
#   AIRDIG_TEST_KAFKA_CONTROLLER_PORT  Kafka KRaft controller   (default 19093)
#   AIRDIG_TEST_MYSQL_TLS_PORT      2nd MariaDB, require_secure_transport=ON (default MYSQL_PORT+1)
#   AIRDIG_TEST_REDIS_TLS_PORT      Redis tls-port (ACL user airdig)   (default REDIS_PORT+1)
#   AIRDIG_TEST_KAFKA_SASL_PORT     Kafka SASL_SSL + SCRAM listener     (default KAFKA_PORT+2)
#   AIRDIG_TEST_TIDB_PORT           TiDB (standalone, unistore) SQL port (default 14000)
#   AIRDIG_TEST_TIDB_STATUS_PORT    TiDB status (HTTP) port             (default TIDB_PORT+80)
#   AIRDIG_TEST_TIDB_TLS_PORT       2nd TiDB, require_secure_transport=ON (default TIDB_PORT+1)
#   AIRDIG_TEST_TIDB_TLS_STATUS_PORT  its status port                   (default TIDB_TLS_PORT+80)
#   AIRDIG_TEST_KAFKA_VERSION       override the Kafka version pinned in kafka/pom.xml
#   AIRDIG_TEST_SERVICES_TIMEOUT    seconds to wait for each server to answer (default 120)
#   AIRDIG_TEST_SERVICES            which servers start starts (default "mariadb redis kafka tidb"; the
#                                   reliability tests start a private one on their own ports and run dir)
# Changing a port while servers from the same run dir are still running needs a stop first.

SERVICES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SERVICES_DIR/../.." && pwd)"

RUN_DIR="${AIRDIG_TEST_RUN_DIR:-$REPO_ROOT/.test-services}"
case "$RUN_DIR" in
  /*) ;;
  *) RUN_DIR="$PWD/$RUN_DIR" ;;
esac

MYSQL_PORT="${AIRDIG_TEST_MYSQL_PORT:-13306}"
REDIS_PORT="${AIRDIG_TEST_REDIS_PORT:-16379}"
KAFKA_PORT="${AIRDIG_TEST_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${AIRDIG_TEST_KAFKA_CONTROLLER_PORT:-19093}"
SERVICES_TIMEOUT="${AIRDIG_TEST_SERVICES_TIMEOUT:-120}"
SERVICES_WANTED=" ${AIRDIG_TEST_SERVICES:-mariadb redis kafka tidb} "
# wants NAME: start (and wait for) this server
wants() { [[ "$SERVICES_WANTED" == *" $1 "* ]]; }
MYSQL_TLS_PORT="${AIRDIG_TEST_MYSQL_TLS_PORT:-$((MYSQL_PORT + 1))}"
REDIS_TLS_PORT="${AIRDIG_TEST_REDIS_TLS_PORT:-$((REDIS_PORT + 1))}"
KAFKA_SASL_PORT="${AIRDIG_TEST_KAFKA_SASL_PORT:-$((KAFKA_PORT + 2))}"
TIDB_PORT="${AIRDIG_TEST_TIDB_PORT:-14000}"
TIDB_STATUS_PORT="${AIRDIG_TEST_TIDB_STATUS_PORT:-$((TIDB_PORT + 80))}"
TIDB_TLS_PORT="${AIRDIG_TEST_TIDB_TLS_PORT:-$((TIDB_PORT + 1))}"
TIDB_TLS_STATUS_PORT="${AIRDIG_TEST_TIDB_TLS_STATUS_PORT:-$((TIDB_TLS_PORT + 80))}"

MYSQL_DB=airdig_test
MYSQL_USER=airdig
MYSQL_PASSWORD=airdig

# Credentials of the TLS listeners: test-only secrets, different from the plaintext ones so a test can
# tell which server answered.
TLS_MYSQL_PASSWORD=airdig-tls-pw
TLS_REDIS_USER=airdig
TLS_REDIS_PASSWORD=airdig-redis-pw
TLS_KAFKA_USER=airdig
TLS_KAFKA_PASSWORD=airdig-kafka-pw
TLS_DIR="$RUN_DIR/tls"  # the throwaway CA and the servers' certificate (made by start)

MARIADB_DIR="$RUN_DIR/mariadb"
MARIADB_TLS_DIR="$RUN_DIR/mariadb-tls"
MARIADB_TLS_PIDFILE="$MARIADB_TLS_DIR/mariadbd.pid"
MARIADB_PIDFILE="$MARIADB_DIR/mariadbd.pid"
REDIS_DIR="$RUN_DIR/redis"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
KAFKA_DIR="$RUN_DIR/kafka"
KAFKA_PIDFILE="$KAFKA_DIR/kafka.pid"
TIDB_DIR="$RUN_DIR/tidb"
TIDB_PIDFILE="$TIDB_DIR/tidb.pid"
TIDB_TLS_DIR="$RUN_DIR/tidb-tls"
TIDB_TLS_PIDFILE="$TIDB_TLS_DIR/tidb.pid"
SERVICES_ENV="$RUN_DIR/services.env"

# Unix socket paths are limited to ~107 bytes; fall back to /tmp for deep run dirs.
MARIADB_SOCKET="$MARIADB_DIR/mysqld.sock"
if ((${#MARIADB_SOCKET} > 100)); then
  MARIADB_SOCKET="${TMPDIR:-/tmp}/airdig-mariadb-$(printf '%s' "$RUN_DIR" | cksum | cut -d' ' -f1).sock"
fi
MARIADB_TLS_SOCKET="$MARIADB_TLS_DIR/mysqld.sock"
if ((${#MARIADB_TLS_SOCKET} > 100)); then
  MARIADB_TLS_SOCKET="${TMPDIR:-/tmp}/airdig-mariadb-tls-$(printf '%s' "$RUN_DIR" | cksum | cut -d' ' -f1).sock"
fi

KAFKA_POM="$SERVICES_DIR/kafka/pom.xml"
KAFKA_VERSION="${AIRDIG_TEST_KAFKA_VERSION:-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM" | head -n1)}"
KAFKA_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/airdig-test/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_CACHE/libs"

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  JAVA="$JAVA_HOME/bin/java"
else
  JAVA=java
fi

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

# read_pid PIDFILE -> prints the pid if the file holds a number
read_pid() {
  local f=$1 pid
  [[ -s "$f" ]] || return 1
  pid=$(tr -dc '0-9' <"$f")
  [[ -n "$pid" ]] || return 1
  printf '%s\n' "$pid"
}

# pid_matches PID PATTERN: process alive and its command line contains PATTERN
# (guards against a recycled pid from a stale pidfile).
pid_matches() {
  local pid=$1 pattern=$2 cmdline
  kill -0 "$pid" 2>/dev/null || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ "$cmdline" == *"$pattern"* ]]
}

# service_pid PIDFILE PATTERN -> prints the pid of our live server, fails otherwise
service_pid() {
  local pid
  pid=$(read_pid "$1") || return 1
  pid_matches "$pid" "$2" || return 1
  printf '%s\n' "$pid"
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Process-name patterns used to recognise our servers in /proc/PID/cmdline.
MARIADB_PATTERN=mariadbd
REDIS_PATTERN=redis-server
KAFKA_PATTERN=kafka.Kafka
TIDB_PATTERN=tidb-server
