"""The ledger's rules and types. Standard library and ``svc_kit.faults`` only: no I/O."""
