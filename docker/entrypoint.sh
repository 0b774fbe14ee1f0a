#!/bin/sh
# Container start-up, also run without Docker by tests/test_container_startup.py:
# wait for the index database, apply migrations, then serve (exec, so SIGTERM
# from `docker stop` reaches photopacs and it shuts down cleanly).
set -eu
PHOTOPACS="${PHOTOPACS_BIN:-photopacs}"
"$PHOTOPACS" db wait --timeout "${PHOTOPACS_DB_WAIT_SECONDS:-60}"
"$PHOTOPACS" db upgrade
exec "$PHOTOPACS" serve "$@"
