"""Shared fixtures: a real BigQuery emulator for the session, and real gunicorn services on demand."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from service.model.service_env import BIGQUERY_EMULATOR_HOST, METRICS_ENDPOINT, SECRETS, ServiceSpec, to_env
from service.model.stream import Stream
from service.runtime.bigquery_client import make_client
from tools.local.processes import Process, free_port, free_port_run, start_emulator, start_service
from tools.local.provision import provision

TEST_PROJECT = "hookstream-test"
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


class Emulator:
    def __init__(self, process: Process, url: str, project: str) -> None:
        self.process, self.url, self.project = process, url, project
        self.client = make_client(project, url)

    def query(self, sql: str) -> list[dict[str, Any]]:
        return [dict(row) for row in self.client.query(sql, timeout=30).result(timeout=60)]


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One bqemulator process (REST over HTTP on loopback) for the whole test session."""
    data_dir = tmp_path_factory.mktemp("emulator")
    rest_port = free_port_run(2)  # two distinct, verified ports: REST and gRPC
    process, url = start_emulator(data_dir / "data", TEST_PROJECT, rest_port, rest_port + 1,
                                  data_dir / "emulator.log")
    emulator = Emulator(process, url, TEST_PROJECT)
    yield emulator
    emulator.client.close()
    process.stop()


class RunningService:
    def __init__(self, stream: Stream, process: Process, port: int, secrets: tuple[str, ...]) -> None:
        self.stream, self.process, self.port, self.secrets = stream, process, port, secrets
        self.base_url = f"http://127.0.0.1:{port}"

    @property
    def hooks_url(self) -> str:
        return f"{self.base_url}/hooks"


ServiceFactory = Callable[..., RunningService]


@pytest.fixture
def start_stream_service(emulator: Emulator, tmp_path: Path) -> Iterator[ServiceFactory]:
    """Provision a stream's table in the emulator and serve it with a real gunicorn."""
    started: list[Process] = []

    def start(stream: Stream, secrets: tuple[str, ...] = ("test-secret-0123456789",), workers: int = 1,
              threads: int = 8, extra_env: dict[str, str] | None = None,
              spec_changes: dict[str, Any] | None = None) -> RunningService:
        provision(emulator.client, [stream], emulator.project)
        spec = replace(ServiceSpec.of(stream, emulator.project), threads=threads, **(spec_changes or {}))
        env = {**to_env(spec), BIGQUERY_EMULATOR_HOST: emulator.url,
               SECRETS: " ".join(secrets), METRICS_ENDPOINT: "1", **(extra_env or {})}
        port = free_port()
        process = start_service(stream.name, env, port, tmp_path / f"{stream.name}.log", workers=workers)
        started.append(process)
        return RunningService(stream, process, port, secrets)

    yield start
    for process in started:
        process.stop()
