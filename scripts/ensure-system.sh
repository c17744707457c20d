#!/usr/bin/env bash
# Installs the Debian packages the tests need and starts the local services they use.
# Idempotent: does nothing that is already done. Needs root for apt-get (as on CI).
set -euo pipefail

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need+=(fonts-noto-cjk)
fc-list 2>/dev/null | grep -qi "Noto Color Emoji" || need+=(fonts-noto-color-emoji)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing ${need[*]} from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "warning: not root; cannot install ${need[*]} (browser tests will skip outside CI)" >&2
  fi
fi

# PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379): start them if they are down.
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  fi
fi
if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  fi
fi
for i in $(seq 1 20); do
  pg_ok=1; redis_ok=1
  command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432 && pg_ok=0
  command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && redis_ok=0
  [ $pg_ok = 1 ] && [ $redis_ok = 1 ] && break
  sleep 0.5
done
