-- One database per service, created on the first start of an empty data volume
-- (the postgres image runs /docker-entrypoint-initdb.d only then). Services never
-- share tables: each owns its schema and migrates it itself on start.
-- tests/integration/edge/test_compose.py checks every *_DATABASE_URL in
-- docker-compose.yml names a database created here.
CREATE DATABASE paymesh_ledger;
CREATE DATABASE paymesh_identity;
CREATE DATABASE paymesh_gateway;
