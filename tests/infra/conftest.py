"""Synthesize the cdktf app once per session: importing the google bindings costs ~15 s and ~1 GB."""

from __future__ import annotations

import pytest

from tests.infra.helpers import VARIED_STREAMS, Synth, synthesize


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "synth: builds the cdktf app (imports the provider bindings: ~15 s once per session)")


@pytest.fixture(scope="session")
def shipped() -> Synth:
    return synthesize(None)


@pytest.fixture(scope="session")
def varied() -> Synth:
    return synthesize(VARIED_STREAMS)
