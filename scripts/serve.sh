#!/usr/bin/env bash
# Serve the service the way `make run` does: gunicorn and the job worker side by side.
#
#   VENV=.venv HOST=127.0.0.1 PORT=5000 bash scripts/serve.sh
#
# The job worker (`flask --app wsgi jobs run`: notifications, digests, periodic
# clean-ups) runs in the background. The two stop together: Ctrl-C, SIGTERM or
# SIGHUP to this script stops both (the worker finishes the job it is running),
# and if either one ends by itself the other is stopped too.
set -euo pipefail

VENV=${VENV:-.venv}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-5000}

COMMENTS_SECRET_KEY=${COMMENTS_SECRET_KEY:-$("$VENV/bin/flask" --app wsgi secret-key)}
COMMENTS_PUBLIC_URL=${COMMENTS_PUBLIC_URL:-http://$HOST:$PORT}
COMMENTS_DEMO_ENABLED=${COMMENTS_DEMO_ENABLED:-true}
export COMMENTS_SECRET_KEY COMMENTS_PUBLIC_URL COMMENTS_DEMO_ENABLED

worker=""
server=""
stop() {
  trap - EXIT INT TERM HUP
  # The worker stops gracefully on SIGINT, gunicorn on SIGTERM.
  [ -n "$worker" ] && kill -INT "$worker" 2>/dev/null || true
  [ -n "$server" ] && kill -TERM "$server" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

"$VENV/bin/flask" --app wsgi jobs run &
worker=$!
"$VENV/bin/gunicorn" --workers 1 --threads 8 --bind "$HOST:$PORT" &
server=$!

# Whichever ends first ends both (the EXIT trap stops the other).
set +e
wait -n "$worker" "$server"
status=$?
set -e
if kill -0 "$server" 2>/dev/null; then
  echo "serve.sh: the job worker stopped (status $status); stopping gunicorn" >&2
else
  echo "serve.sh: gunicorn stopped (status $status); stopping the job worker" >&2
fi
exit "$status"
