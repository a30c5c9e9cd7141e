#!/usr/bin/env bash
# Make sure the services the tests need answer: Redis (required) and PostgreSQL (when installed).
# Redis is started by workers/demo/local_redis.py (the one place that starts a local Redis; a
# started one keeps running, and the script prints how to stop it); this script only installs
# redis-server with apt-get when it is missing and we are root. Runs before any virtualenv exists,
# with the system python3.
set -euo pipefail
cd "$(dirname "$0")/.."

ensure_redis() { python3 -m workers.demo.local_redis "redis://127.0.0.1:6379/0"; }

status=0
ensure_redis || status=$?
if [ "$status" = 3 ]; then  # local_redis.EXIT_NOT_INSTALLED
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-services: installing redis-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    ensure_redis
  else
    echo "ensure-services: install redis-server (e.g. apt-get install -y redis-server)" >&2
    exit 1
  fi
elif [ "$status" != 0 ]; then
  exit "$status"
fi

if command -v pg_isready >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "ensure-services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  fi
fi
echo "ensure-services: redis ok$(pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && echo ', postgresql ok')"
