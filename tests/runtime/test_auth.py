"""Endpoint authentication: published test vectors, rotation, and tampering with every part."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from standardwebhooks.webhooks import Webhook

from service.model.auth_settings import HmacAuth, NoAuth, StandardWebhooksAuth, TokenAuth
from service.model.service_env import ServiceSpec
from service.model.stream import Stream
from service.runtime.app import create_app
from service.runtime.auth import make_verifier
from service.runtime.settings import ServiceSettings, SettingsError
from service.runtime.verification import AuthFailed, AuthSetupError, RequestView
from tests.fakes import MemorySink
from tools.local.dev_secrets import generate_secret

GITHUB = HmacAuth(header="X-Hub-Signature-256", algorithm="sha256", encoding="hex", prefix="sha256=")
SLACK = HmacAuth(header="X-Slack-Signature", algorithm="sha256", encoding="hex", prefix="v0=",
                 signed="v0:{timestamp}:{body}", timestamp_header="X-Slack-Request-Timestamp")
SHOPIFY = HmacAuth(header="X-Shopify-Hmac-Sha256", algorithm="sha256", encoding="base64",
                   delivery_id_header="X-Shopify-Webhook-Id")


def spec_of(stream: Stream) -> ServiceSpec:
    return ServiceSpec.of(stream, "my-project")


def view(body: bytes, headers: dict[str, str], now: float = 1_700_000_000, token: str | None = None) -> RequestView:
    return RequestView(body, headers, token, now)


# --- Published test vectors -------------------------------------------------------------------

def test_github_documentation_example() -> None:
    # docs.github.com, "Validating webhook deliveries", test values.
    verifier = make_verifier(GITHUB, ("It's a Secret to Everybody",))
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    verifier.verify(view(b"Hello, World!", {"X-Hub-Signature-256": signature}))
    with pytest.raises(AuthFailed, match="does not match"):
        verifier.verify(view(b"Hello, World?", {"X-Hub-Signature-256": signature}))


SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)


def test_slack_documentation_example_including_its_replay_window() -> None:
    # api.slack.com, "Verifying requests from Slack", the worked example.
    verifier = make_verifier(SLACK, ("8f742231b10e8888abcd99yyyzzz85a5",))
    headers = {"X-Slack-Request-Timestamp": "1531420618",
               "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"}
    verifier.verify(view(SLACK_BODY, headers, now=1531420618 + 60))
    with pytest.raises(AuthFailed) as caught:
        verifier.verify(view(SLACK_BODY, headers, now=1531420618 + 301))
    assert caught.value.code == "stale_timestamp"


STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STANDARD_HEADERS = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
                    "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
STANDARD_BODY = b'{"test": 2432232314}'


def test_standard_webhooks_specification_example() -> None:
    verifier = make_verifier(StandardWebhooksAuth(), (STANDARD_SECRET,))
    sender = verifier.verify(view(STANDARD_BODY, STANDARD_HEADERS, now=1614265330))
    assert sender.delivery_id == "msg_p5jXN8AQM9LWM0D4loKWxJek"


@pytest.mark.parametrize("body", [b'{"orderId": "N1"}', b"orderId=N1&status=paid", "ü€".encode()])
def test_standard_webhooks_agrees_with_the_reference_library(body: bytes) -> None:
    secret = generate_secret(StandardWebhooksAuth())
    assert secret.startswith("whsec_")
    stamp = datetime.now(tz=UTC).replace(microsecond=0)
    signature = Webhook(secret).sign("msg_1", stamp, body.decode())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(stamp.timestamp())),
               "webhook-signature": signature}
    make_verifier(StandardWebhooksAuth(), (secret,)).verify(view(body, headers, now=stamp.timestamp()))


# --- Rotation ---------------------------------------------------------------------------------

def sign_hex(secret: str, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret.encode(), message, getattr(hashlib, digest)).hexdigest()


def test_rotation_old_and_new_accepted_removed_refused() -> None:
    old, new = "old-secret-aaaaaaaaaaaa", "new-secret-bbbbbbbbbbbb"
    during = make_verifier(GITHUB, (old, new))
    after = make_verifier(GITHUB, (new,))
    for secret in (old, new):
        during.verify(view(b"a=1", {"X-Hub-Signature-256": "sha256=" + sign_hex(secret, b"a=1")}))
    after.verify(view(b"a=1", {"X-Hub-Signature-256": "sha256=" + sign_hex(new, b"a=1")}))
    with pytest.raises(AuthFailed):
        after.verify(view(b"a=1", {"X-Hub-Signature-256": "sha256=" + sign_hex(old, b"a=1")}))

    token_during = make_verifier(TokenAuth(), (old, new))
    token_during.verify(view(b"", {}, token=old))
    token_during.verify(view(b"", {"Authorization": f"Bearer {new}"}))
    with pytest.raises(AuthFailed):
        make_verifier(TokenAuth(), (new,)).verify(view(b"", {}, token=old))


def test_standard_webhooks_rotation_with_several_signatures_in_one_header() -> None:
    old, new = generate_secret(StandardWebhooksAuth()), generate_secret(StandardWebhooksAuth())
    stamp = datetime.fromtimestamp(1_700_000_000, tz=UTC)
    both = f"{Webhook(old).sign('m', stamp, 'x')} {Webhook(new).sign('m', stamp, 'x')}"
    headers = {"webhook-id": "m", "webhook-timestamp": "1700000000", "webhook-signature": both}
    make_verifier(StandardWebhooksAuth(), (new,)).verify(view(b"x", headers))


# --- Tampering --------------------------------------------------------------------------------

def standard_request(**changes: Any) -> tuple[bytes, dict[str, str]]:
    body = changes.pop("body", STANDARD_BODY)
    headers = {**STANDARD_HEADERS, **changes}
    return body, {k: v for k, v in headers.items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"body": b'{"test": 2432232315}'}, "bad_signature"),
        ({"webhook-timestamp": "1614265331"}, "bad_signature"),
        ({"webhook-id": "msg_other"}, "bad_signature"),
        ({"webhook-signature": None}, "missing_header"),
        ({"webhook-id": None}, "missing_header"),
        ({"webhook-signature": "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}, "bad_signature_encoding"),
        ({"webhook-signature": "v1,not base64!"}, "bad_signature_encoding"),
        ({"webhook-timestamp": "yesterday"}, "bad_timestamp"),
    ],
)
def test_standard_webhooks_tampering(changes: dict[str, Any], code: str) -> None:
    body, headers = standard_request(**changes)
    with pytest.raises(AuthFailed) as caught:
        make_verifier(StandardWebhooksAuth(), (STANDARD_SECRET,)).verify(view(body, headers, now=1614265330))
    assert caught.value.code == code


def test_standard_webhooks_replay_outside_tolerance_is_refused() -> None:
    verifier = make_verifier(StandardWebhooksAuth(), (STANDARD_SECRET,))
    for now in (1614265330 + 301, 1614265330 - 301):
        with pytest.raises(AuthFailed) as caught:
            verifier.verify(view(STANDARD_BODY, STANDARD_HEADERS, now=now))
        assert caught.value.code == "stale_timestamp"


SECRET = "shared-secret-for-tests"


@pytest.mark.parametrize(
    ("auth", "header_value", "code"),
    [
        (GITHUB, None, "missing_header"),
        (GITHUB, sign_hex(SECRET, b"a=1"), "bad_signature_prefix"),  # prefix left out
        (GITHUB, "sha1=" + sign_hex(SECRET, b"a=1"), "bad_signature_prefix"),
        (GITHUB, "sha256=" + base64.b64encode(bytes.fromhex(sign_hex(SECRET, b"a=1"))).decode(),
         "bad_signature_encoding"),  # right signature, wrong encoding
        # Wrong algorithm: 128 hex digits where an HMAC-SHA256 has 64, refused before any comparison.
        (GITHUB, "sha256=" + sign_hex(SECRET, b"a=1", "sha512"), "bad_signature_encoding"),
        (GITHUB, "sha256=" + sign_hex(SECRET, b"a=2"), "bad_signature"),  # body changed
        (GITHUB, "sha256=" + sign_hex("another-secret-xxxxxxx", b"a=1"), "bad_signature"),
    ],
)
def test_hmac_tampering(auth: HmacAuth, header_value: str | None, code: str) -> None:
    headers = {} if header_value is None else {auth.header: header_value}
    with pytest.raises(AuthFailed) as caught:
        make_verifier(auth, (SECRET,)).verify(view(b"a=1", headers))
    assert caught.value.code == code
    assert SECRET not in caught.value.message


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_hmac_round_trip_every_algorithm_and_encoding(algorithm: str, encoding: str) -> None:
    auth = HmacAuth(header="X-Sig", algorithm=algorithm, encoding=encoding)  # type: ignore[arg-type]
    digest = hmac.new(SECRET.encode(), b"orderId=N1", getattr(hashlib, algorithm)).digest()
    value = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    make_verifier(auth, (SECRET,)).verify(view(b"orderId=N1", {"X-Sig": value}))


def test_timestamped_hmac_checks_timestamp_and_carries_the_delivery_id() -> None:
    auth = HmacAuth(header="X-Sig", signed="{id}.{timestamp}.{body}", timestamp_header="X-Ts",
                    delivery_id_header="X-Delivery")
    headers = {"X-Ts": "1700000000", "X-Delivery": "d-42",
               "X-Sig": sign_hex(SECRET, b"d-42.1700000000.a=1")}
    assert make_verifier(auth, (SECRET,)).verify(view(b"a=1", headers)).delivery_id == "d-42"
    with pytest.raises(AuthFailed) as caught:
        make_verifier(auth, (SECRET,)).verify(view(b"a=1", {**headers, "X-Delivery": "d-43"}))
    assert caught.value.code == "bad_signature"
    with pytest.raises(AuthFailed) as caught:
        make_verifier(auth, (SECRET,)).verify(view(b"a=1", headers, now=1700000000 + 3600))
    assert caught.value.code == "stale_timestamp"


def test_token_problems() -> None:
    verifier = make_verifier(TokenAuth(), (SECRET,))
    for headers, token, code in [({}, None, "missing_token"), ({}, "wrong-token", "bad_token"),
                                 ({"Authorization": "Basic " + SECRET}, None, "missing_token"),
                                 ({"Authorization": "Bearer wrong"}, None, "bad_token")]:
        with pytest.raises(AuthFailed) as caught:
            verifier.verify(view(b"", headers, token=token))
        assert caught.value.code == code


def test_protected_modes_refuse_to_start_without_a_usable_secret() -> None:
    for auth in (TokenAuth(), GITHUB, StandardWebhooksAuth()):
        with pytest.raises(AuthSetupError, match="HOOKSTREAM_SECRETS"):
            make_verifier(auth, ())
    with pytest.raises(AuthSetupError, match="at least 16"):
        make_verifier(TokenAuth(), ("short",))
    with pytest.raises(AuthSetupError) as caught:
        make_verifier(StandardWebhooksAuth(), ("whsec_not-base64!!",))
    assert "not-base64" not in str(caught.value)


@pytest.mark.parametrize(
    ("auth", "weak_secret"),
    [
        (TokenAuth(), "fifteen-chars!!"),
        (GITHUB, "fifteen-chars!!"),
        # `whsec_` with nothing after it decodes to an empty HMAC key: anyone could sign with it.
        (StandardWebhooksAuth(), "whsec_"),
        (StandardWebhooksAuth(), "whsec_" + base64.b64encode(b"15 bytes of key").decode()),
    ],
    ids=["token", "hmac", "whsec-empty", "whsec-15-bytes"],
)
def test_every_protected_mode_refuses_a_weak_secret_at_start_up(auth: Any, weak_secret: str) -> None:
    stream = Stream(name="orders", dataset="crm", table="orders", auth=auth)
    strong = "whsec_" + base64.b64encode(b"16 bytes of key!").decode() if auth.mode == "standard-webhooks" \
        else "sixteen-chars!!!"
    create_app(ServiceSettings(spec=spec_of(stream), secrets=(strong,)), sink=MemorySink())  # starts
    with pytest.raises(SettingsError) as caught:
        # A weak secret next to a strong one is refused too: during a rotation both are live.
        create_app(ServiceSettings(spec=spec_of(stream), secrets=(strong, weak_secret)), sink=MemorySink())
    message = str(caught.value)
    assert "'orders'" in message and "at least 16" in message and "secret 2 of 2" in message
    if weak_secret != "whsec_":
        assert weak_secret not in message


# --- Through the HTTP layer: 401 with a JSON error, nothing written -----------------------------

def app_client(auth: Any, secrets: tuple[str, ...]) -> tuple[FlaskClient, MemorySink]:
    sink = MemorySink()
    stream = Stream(name="orders", dataset="crm", table="orders", auth=auth)
    app = create_app(ServiceSettings(spec=spec_of(stream), secrets=secrets), sink=sink)
    return app.test_client(), sink


def test_token_in_url_or_bearer_header_is_accepted_and_anything_else_writes_nothing() -> None:
    client, sink = app_client(TokenAuth(), (SECRET,))
    assert client.post(f"/hooks/{SECRET}", data=b"a=1").status_code == 200
    assert client.post("/hooks", data=b"a=2", headers={"Authorization": f"Bearer {SECRET}"}).status_code == 200
    assert client.get(f"/hooks/{SECRET}?a=3").status_code == 200
    for response in (client.post("/hooks", data=b"b=1"), client.post("/hooks/nope", data=b"b=2"),
                     client.get("/hooks?b=3")):
        assert response.status_code == 401
        assert response.json is not None
        assert response.json["error"]["code"] in ("missing_token", "bad_token")
        assert SECRET not in response.get_data(as_text=True)
    assert [row["payload"] for row in sink.rows] == ["a=1", "a=2", "a=3"]


def test_signed_stream_stores_the_delivery_id_and_refuses_a_bad_signature() -> None:
    client, sink = app_client(SHOPIFY, (SECRET,))
    signature = base64.b64encode(hmac.new(SECRET.encode(), b'{"id": 1}', hashlib.sha256).digest()).decode()
    ok = client.post("/hooks", data=b'{"id": 1}', headers={"X-Shopify-Hmac-Sha256": signature,
                                                           "X-Shopify-Webhook-Id": "wh-1"})
    assert ok.status_code == 200
    bad = client.post("/hooks", data=b'{"id": 2}', headers={"X-Shopify-Hmac-Sha256": signature})
    assert bad.status_code == 401
    assert bad.json is not None and bad.json["error"]["code"] == "bad_signature"
    assert client.post(f"/hooks/{SECRET}", data=b"x").status_code == 404  # no token paths here
    assert [(row["payload"], row["delivery_id"]) for row in sink.rows] == [('{"id": 1}', "wh-1")]


def test_the_app_refuses_to_start_a_protected_stream_without_secrets() -> None:
    with pytest.raises(SettingsError, match=r"'orders'.*HOOKSTREAM_SECRETS"):
        app_client(TokenAuth(), ())


def test_mode_none_warns_at_start(caplog: pytest.LogCaptureFixture) -> None:
    client, _ = app_client(NoAuth(), ())
    assert "anyone who knows this URL can write rows" in caplog.text
    assert client.post("/hooks", data=b"a=1").status_code == 200


def test_a_token_url_with_a_trailing_slash_is_accepted() -> None:
    client, sink = app_client(TokenAuth(), (SECRET,))
    response = client.post(f"/hooks/{SECRET}/", data=b"orderId=N1")
    assert response.status_code == 200, response.get_data()
    assert [row["payload"] for row in sink.rows] == ["orderId=N1"]
    # ...and the wrong token with a slash is still a 401, not a redirect.
    assert client.post("/hooks/wrong-token-0123456789/", data=b"orderId=N1").status_code == 401
    assert len(sink.rows) == 1
