#!/usr/bin/env bash
# The whole suite twice: on the embedded SQLite default, then on PostgreSQL.
# Without a PostgreSQL server the second run is skipped with a reason, except on
# CI (CI=true), where it must run.
set -euo pipefail
PYTEST=${PYTEST:-.venv/bin/pytest}
PG_URL=${COMMENTS_PG_TEST_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}

echo "== test suite on SQLite =="
"$PYTEST" "$@"

if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "== test suite on PostgreSQL ($PG_URL) =="
  # Tests marked slow start their own gunicorn instances on PostgreSQL already.
  COMMENTS_TEST_DATABASE_URL="$PG_URL" "$PYTEST" -m "not slow" "$@"
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is not answering on 127.0.0.1:5432; CI must run the PostgreSQL suite" >&2
  exit 1
else
  echo "SKIPPED: the PostgreSQL run (no server answering on 127.0.0.1:5432)"
fi
