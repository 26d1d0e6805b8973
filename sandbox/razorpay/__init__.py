"""A stateful simulator of Razorpay's payments API (api.razorpay.com), mounted at ``/razorpay``.

What it speaks, and the choices made where Razorpay's docs are silent, are written down in
each module: ``sim`` (routes, credentials), ``orders``, ``payments`` (S2S JSON card payments,
capture, the missing void), ``refunds`` (``X-Refund-Idempotency``), ``threeds`` (the mock
bank page), ``cards`` (test cards and their failure reasons), ``store`` (state, fees) and
``replies`` (the error body).
"""

from sandbox.razorpay.sim import RazorpaySim, make_sim

__all__ = ["RazorpaySim", "make_sim"]
