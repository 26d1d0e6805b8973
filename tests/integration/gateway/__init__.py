"""gateway_svc against the real ledger and identity, through a real Envoy."""
