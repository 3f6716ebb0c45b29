"""Verifiers and answers for the sender presets (service/model/senders.py): one module per family.

Each verifier follows service/runtime/verification.py's `Verifier` protocol (raw bytes in, `Sender` or `AuthFailed`
out, nothing parsed or written before it passes); `answers.py` holds what a sender expects back besides the
JSON answer: handshake echoes and the Salesforce Ack.
"""
