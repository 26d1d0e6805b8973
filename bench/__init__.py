"""The ledger benchmark: ledger postings per second against pgbench on the same PostgreSQL.

Run it as ``.venv/bin/python -m bench`` (``make bench``). One invocation:

1. runs ``pgbench -b tpcb-like`` on a fresh bench-only database, the yardstick
   (ledger.md, "Performance yardstick");
2. starts ``python -m ledger_svc serve`` on another fresh database and a free loopback port;
3. drives it with the scenarios of ``bench.scenarios`` (single postings, a hot account,
   client batches of 100 and 1,000);
4. prints postings/s, latency and the ratio to pgbench TPS against the targets, runs
   VerifyLedger, stops the service and drops both databases.

Modules: ``cli`` (arguments and the run order), ``pg`` (admin SQL and pgbench), ``service``
(the ledger subprocess), ``workload`` (accounts and requests), ``load`` (the timed client
loop), ``cpu`` (where the CPU went) and ``report`` (table and JSON).
"""
