#!/usr/bin/env bash
# Make sure the services the tests need answer: Redis (required) and PostgreSQL (when installed).
# Starts them when stopped; installs Redis with apt-get when it is missing and we are root.
set -euo pipefail

redis_up() { python3 - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("127.0.0.1", 6379)); s.sendall(b"PING\r\n"); sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}

if ! redis_up; then
  if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "ensure-services: installing redis-server"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    else
      echo "ensure-services: Redis is not running and redis-server is not installed" >&2
      exit 1
    fi
  fi
  echo "ensure-services: starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 50); do redis_up && break; sleep 0.1; done
  redis_up || { echo "ensure-services: Redis did not come up" >&2; exit 1; }
fi

if command -v pg_isready >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "ensure-services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  fi
fi
echo "ensure-services: redis ok$(pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && echo ', postgresql ok')"
