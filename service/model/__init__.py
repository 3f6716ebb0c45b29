"""The stream model: what a stream is (settings, auth settings, row schema, time zones, view declarations).

Shared by the runtime (service/runtime), the deploy code (infra/) and the tools (tools/); imports
nothing from any of them.
"""
