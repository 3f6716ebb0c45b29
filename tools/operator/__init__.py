"""The CLIs an operator runs against a stream, local or deployed: part of the product, documented in README.

backfill (scripts/backfill), review (scripts/review) and checkov_scan (scripts/checkov) before a deploy,
rotate_secret (scripts/rotate-secret), send (scripts/send, with sender_requests' signed sample calls),
report (scripts/report, the ROI page).
"""
