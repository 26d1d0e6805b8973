"""Runtime shared by every paymesh service: settings, grpc.aio bootstrap, TLS, errors, telemetry.

This file deliberately imports nothing. Domain packages import ``svc_kit.faults`` (stdlib only),
and the import contract forbids domain code from reaching grpc or SQLAlchemy, even transitively
through a package ``__init__``. Import the submodule you need instead.
"""
