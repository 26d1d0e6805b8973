"""Stateful simulators of the payment providers, speaking their real wire protocols.

Test infrastructure: `python -m sandbox` serves them all on one HTTPS port. gateway_svc never
imports this package.

The host: ``server`` (routing, fault injection, start/stop), ``http_wire`` (HTTP/1.1 on
asyncio with h11), ``faults`` (what can be scripted), ``control`` (``/_control/`` API),
``registry`` (provider name -> ``make_sim``), ``config`` (credentials), ``tls`` (the sandbox's
certificate from the dev PKI), ``webhooks`` (the providers' signed callbacks to the gateway;
sandbox/README.md), ``testing`` and ``control_client`` (for tests).
"""
