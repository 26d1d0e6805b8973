"""gRPC entrypoints: the servicer and proto <-> domain conversion."""
