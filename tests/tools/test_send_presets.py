"""scripts/send (tools/operator/send.py) shapes a correct request for every sender preset: sent to a real gunicorn,
each sample is stored, each handshake answered, and the secret never appears in what it prints."""

from __future__ import annotations

import json

import pytest

import tools.operator.send
from service.model.auth_settings import takes_path_token
from service.model.senders import PRESETS
from service.model.stream import Stream
from tests.conftest import Emulator, ServiceFactory
from tools.local.dev_secrets import generate_secret

pytestmark = pytest.mark.integration


def run_send(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stream: Stream, url: str,
             secret: str, *extra: str) -> tuple[int, str]:
    monkeypatch.setattr(tools.operator.send, "load_streams", lambda prog: (stream,))
    monkeypatch.setenv("HOOKSTREAM_SECRET", secret)
    code = tools.operator.send.main(["--stream", stream.name, "--url", url, *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_scripts_send_sample_is_stored_for_every_preset(
        preset: str, emulator: Emulator, start_stream_service: ServiceFactory,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    auth = PRESETS[preset]()
    stream = Stream(name=f"send-{preset.lower()[:15]}", dataset="it_send_presets", table=preset.lower(), auth=auth)
    secret = generate_secret(auth)
    service = start_stream_service(stream, secrets=(secret,))
    url = f"{service.hooks_url}/{secret}" if takes_path_token(auth) else service.hooks_url
    code, output = run_send(monkeypatch, capsys, stream, url, secret)
    assert code == 0, output
    assert "< 200" in output
    assert secret not in output
    rows = emulator.query(f"SELECT COUNT(*) AS n FROM `{emulator.project}.{stream.table_ref}`")
    assert rows[0]["n"] == 1


@pytest.mark.parametrize(("preset", "shows"), [("Keap", "< X-Hook-Secret: "), ("Monday", '< {"challenge":"')])
def test_scripts_send_handshake_is_answered_and_not_stored(
        preset: str, shows: str, emulator: Emulator, start_stream_service: ServiceFactory,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    auth = PRESETS[preset]()
    stream = Stream(name=f"send-{preset.lower()}", dataset="it_send_presets", table=f"{preset.lower()}_hs",
                    auth=auth)
    secret = generate_secret(auth)
    service = start_stream_service(stream, secrets=(secret,))
    code, output = run_send(monkeypatch, capsys, stream, f"{service.hooks_url}/{secret}", secret, "--handshake")
    assert code == 0, output
    assert shows in output and secret not in output
    rows = emulator.query(f"SELECT COUNT(*) AS n FROM `{emulator.project}.{stream.table_ref}`")
    assert rows[0]["n"] == 0


def test_scripts_send_says_when_a_stream_has_no_handshake(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stream = Stream(name="send-stripe", dataset="it_send_presets", table="stripe_nohs", auth=PRESETS["Stripe"]())
    code, output = run_send(monkeypatch, capsys, stream, "http://127.0.0.1:9/hooks", "x" * 32, "--handshake")
    assert code == 2 and "has no handshake" in output


def test_scripts_send_passes_a_vendor_header_and_the_row_keeps_it_without_the_signature(
        emulator: Emulator, start_stream_service: ServiceFactory,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    auth = PRESETS["Shopify"]()
    stream = Stream(name="send-topic", dataset="it_send_presets", table="shopify_topic", auth=auth)
    secret = generate_secret(auth)
    service = start_stream_service(stream, secrets=(secret,))
    code, output = run_send(monkeypatch, capsys, stream, service.hooks_url, secret,
                            "--header", "X-Shopify-Topic: orders/paid", '{"id": 820982911946154508}')
    assert code == 0, output
    assert "> X-Shopify-Topic: orders/paid" in output
    (row,) = emulator.query(f"SELECT headers FROM `{emulator.project}.{stream.table_ref}`")
    kept = json.loads(row["headers"])
    assert (kept["method"], kept["x-shopify-topic"]) == ("POST", "orders/paid")
    assert "x-shopify-hmac-sha256" not in kept and "hmac" not in row["headers"].lower()


def test_scripts_send_refuses_a_header_that_is_not_name_colon_value(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stream = Stream(name="send-stripe", dataset="it_send_presets", table="stripe_nohs", auth=PRESETS["Stripe"]())
    with pytest.raises(SystemExit):
        run_send(monkeypatch, capsys, stream, "http://127.0.0.1:9/hooks", "x" * 32, "--header", "X-Topic orders")
    assert "'X-Topic orders' is not 'NAME: VALUE'" in capsys.readouterr().err
