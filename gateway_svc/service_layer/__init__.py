"""gateway_svc/service_layer."""
