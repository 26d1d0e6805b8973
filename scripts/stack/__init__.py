"""The local paymesh stack behind one Envoy: what `make run` (scripts/run_stack.py) runs.

Modules, in the order a start-up uses them:

- ``settings``: PAYMESH_* environment variables and command-line flags.
- ``services``: the services to run, as data (one ``ServiceSpec`` each), and each
  replica's environment.
- ``databases``: SQLite files under the var directory, or one PostgreSQL database
  per service derived from PAYMESH_DATABASE_URL.
- ``ports``: refuse to start when a fixed port is already taken.
- ``children``: child processes with prefixed output and the last lines kept.
- ``probes``: ports files, gRPC health over mTLS, Envoy's admin API.
- ``edge``: the Envoy bootstrap and its readiness.
- ``stackfile``: .paymesh/stack.json and the banner.
- ``supervisor``: start in order, watch, stop in order.
"""
