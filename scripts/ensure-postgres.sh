#!/usr/bin/env bash
# The suite's PostgreSQL run needs a server at 127.0.0.1:5432 (trust auth, database `test`).
# A missing server is a failure, not a skip.
set -euo pipefail
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ready; then exit 0; fi
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  echo "starting PostgreSQL…"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
fi
echo "PostgreSQL is not answering at 127.0.0.1:5432; the PostgreSQL half of the suite cannot run." >&2
exit 1
