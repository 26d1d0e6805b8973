"""The gateway's gRPC face: the PaymentService servicer and its proto <-> command conversion.

servicer   PaymentServicer: thin methods, one use case each
convert    requests in (protobuf -> service_layer.commands)
views      results out (payments, refunds, attempts -> protobuf)
responses  render once, store, send the stored bytes (replays are byte-identical)
metadata   the edge's principal and the Idempotency-Key header
errors     the one error table (domain error branch -> gRPC status)
"""
