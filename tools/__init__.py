"""What people run around the service, by what it is.

operator/: the product's CLIs (backfill, review, checkov, rotate-secret, send, report); local/: the local
stack (scripts/dev, query, replay, status); bench/: measurements that guard a figure the docs state
(scripts/bench*, synth-bench). The framing barrage (scripts/fuzz) lives beside the tests, in tests/barrage.
"""
