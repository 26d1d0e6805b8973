"""One httpx client per payment provider, each behind ``service_layer.ports.PaymentProvider``."""
