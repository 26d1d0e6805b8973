"""The gateway's gRPC face: thin servicers and their proto <-> command conversion.

servicer     PaymentServicer: thin methods, one use case each
convert      requests in (protobuf -> service_layer.commands)
views        results out (payments, refunds, attempts -> protobuf)
responses    render once, store, send the stored bytes (replays are byte-identical)
metadata     the edge's principal and the Idempotency-Key header
errors       the one error table (domain error branch -> gRPC status)
fx_servicer / beneficiary_servicer / payout_servicer   the issue-6 services
fx_convert / beneficiary_convert / payout_convert      their requests in
fx_views / beneficiary_views / payout_views            their results out
fx_common    caller, key, FX_PROVIDER_NOT_CONFIGURED, render
"""
