"""What people run around the service: the local stack, query, send, backfill, benchmarks and checks."""
