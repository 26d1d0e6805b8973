"""ledger_svc: paymesh's double-entry ledger, served over gRPC.

Layers (see ../shared/guide/style.md): ``domain`` holds the rules and does no
I/O; ``service_layer`` runs use cases inside a unit of work; ``adapters`` hold
the SQL storage; ``entrypoints`` translate gRPC to use cases and back.
"""
