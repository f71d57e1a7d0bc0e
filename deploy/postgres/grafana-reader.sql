-- A login that can only read Sitewatch's tables, for Grafana. psql variables:
--   reader   the role to create (grafana_reader)   password  its password
--   owner    the role that owns Sitewatch's tables (creates them through its migrations)
-- Idempotent: run at the database's first start (grafana-reader.sh) or by hand later.
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'reader', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'reader') \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'reader', :'password') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'reader') \gexec
GRANT USAGE ON SCHEMA public TO :"reader";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader";
-- Tables the owner creates later (Sitewatch migrates at its start) are readable too.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
