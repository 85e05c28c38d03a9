#!/bin/bash
# Runs once on an empty data volume (postgres image entrypoint): the login role Grafana uses.
# mxcensus_reader is created here (NOLOGIN, as migration 0001 would) so that grafana_ro can be
# made a member before the schema exists; the migration then grants it SELECT.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v pw="$(head -n1 /run/secrets/grafana_db_password)" <<'SQL'
CREATE ROLE mxcensus_reader NOLOGIN;
CREATE ROLE grafana_ro LOGIN PASSWORD :'pw' IN ROLE mxcensus_reader;
SQL
