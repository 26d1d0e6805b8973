"""gateway_svc: payments, FX, beneficiaries, payouts and webhooks; the only service that
reaches external providers (over httpx)."""
