#!/usr/bin/env bash
# Installs the Debian packages the tests need and starts the local services they use.
# Idempotent: does nothing that is already done. Needs root for apt-get (as on CI).
#
#   ensure-system.sh           install what is missing (if root), start PostgreSQL and Redis
#   ensure-system.sh --check   only print the missing packages, one per line; change nothing
#
# Every check captures a command's output first and then matches it. A pipeline such as
# `fc-list | grep -q ...` under pipefail fails whenever grep stops reading at the first match
# and fc-list dies of SIGPIPE, so installed fonts read as missing in some runs and not others.
set -euo pipefail

check_only=0
case "${1:-}" in
  "") ;;
  --check) check_only=1 ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac

# fc-list may be absent (no fontconfig yet): then no font is installed.
fonts=$(fc-list 2>/dev/null || true)
fonts=${fonts,,}

has_font() {
  local family=${1,,}
  [[ $fonts == *"$family"* ]]
}

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
has_font "Noto Sans CJK" || need+=(fonts-noto-cjk)
has_font "Noto Color Emoji" || need+=(fonts-noto-color-emoji)
# The notification tests make a certificate for their STARTTLS mail server with it.
command -v openssl >/dev/null || need+=(openssl)

if [ "$check_only" = 1 ]; then
  if [ ${#need[@]} -gt 0 ]; then
    printf '%s\n' "${need[@]}"
  fi
  exit 0
fi

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
pg_up() {
  pg_isready -q -h 127.0.0.1 -p 5432
}
redis_up() {
  # Compare the reply: some redis-cli versions exit 0 on an error reply such as LOADING.
  local reply
  reply=$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null || true)
  [ "$reply" = PONG ]
}
has_pg=0
has_redis=0
if command -v pg_isready >/dev/null; then has_pg=1; fi
if command -v redis-cli >/dev/null; then has_redis=1; fi

if [ $has_pg = 1 ] && ! pg_up; then
  if [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  fi
fi
if [ $has_redis = 1 ] && ! redis_up; then
  if command -v redis-server >/dev/null; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  fi
fi
for _ in $(seq 1 20); do
  pg_ok=1
  redis_ok=1
  if [ $has_pg = 1 ] && ! pg_up; then pg_ok=0; fi
  if [ $has_redis = 1 ] && ! redis_up; then redis_ok=0; fi
  if [ $pg_ok = 1 ] && [ $redis_ok = 1 ]; then break; fi
  sleep 0.5
done
