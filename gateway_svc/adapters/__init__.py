"""gateway_svc/adapters."""
