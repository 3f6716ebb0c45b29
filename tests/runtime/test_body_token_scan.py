"""The body-token check's cost is bounded by construction: a stranger's JSON body is never parsed whole, at
most 16 candidate values are compared, a form is scanned for at most two occurrences of the field. The CPU
each pathological body costs the check is printed, not asserted (a shared machine)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from service.model.senders import Bitrix24, BodyToken
from service.runtime.auth import make_verifier
from service.runtime.verification import AuthFailed, RequestView, Sender

TOKEN = "51856fefc120afa4b628cc82d3935cce"


def check(auth: object, body: bytes) -> Sender:
    return make_verifier(auth, (TOKEN,)).verify(RequestView(body, {}, None, 0))  # type: ignore[arg-type]


def refusal(auth: object, body: bytes) -> AuthFailed:
    with pytest.raises(AuthFailed) as refused:
        check(auth, body)
    return refused.value


@pytest.fixture
def no_whole_parse(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts full JSON parses, and makes one of a body it cannot handle fail loudly."""
    calls: list[int] = []
    real_loads: Callable[..., object] = json.loads

    def counting_loads(text: str | bytes, **kwargs: object) -> object:
        calls.append(len(text))
        return real_loads(text, **kwargs)

    monkeypatch.setattr(json, "loads", counting_loads)
    return calls


@pytest.mark.parametrize("body", [
    b"[" * 200_000,
    b'{"meta": {"secret": "not-the-token-0123456789"}, "orderId": "N1"}',
    b'{"data": [' + b"[]," * 349_000 + b"[]]}",
    b"{" + b'"secret": "x", ' * 60_000 + b'"end": 1}',
    b'{"orderId": "N1"}',
])
def test_a_strangers_json_body_is_never_parsed_whole(body: bytes, no_whole_parse: list[int]) -> None:
    started = time.process_time()
    refused = refusal(BodyToken("meta.secret"), body)
    print(f"\n{len(body)} bytes: {refused.code} after {(time.process_time() - started) * 1000:.2f} ms CPU")
    assert refused.code in ("missing_token", "bad_token")
    assert no_whole_parse == []


def test_the_token_holders_body_is_parsed_once_to_confirm_the_path(no_whole_parse: list[int]) -> None:
    body = b'{"meta": {"secret": "%s"}, "orderId": "N1"}' % TOKEN.encode()
    check(BodyToken("meta.secret"), body)
    assert no_whole_parse == [len(body)]
    # The right key name and token, but at another path: refused after that parse.
    elsewhere = b'{"other": {"secret": "%s"}}' % TOKEN.encode()
    refused = refusal(BodyToken("meta.secret"), elsewhere)
    assert refused.code == "missing_token" and "not where the stream expects it" in refused.message


def test_at_most_sixteen_json_candidates_are_compared() -> None:
    def body(wrong_before: int) -> bytes:
        records = b"".join(b'{"secret": "wrong-%d"}, ' % n for n in range(wrong_before))
        return b'{"records": [%s{"secret": "x"}], "meta": {"secret": "%s"}}' % (records, TOKEN.encode())

    # 14 wrong values in records, the records' last one and then the token: the 16th value, accepted.
    check(BodyToken("meta.secret"), body(14))
    # One more wrong value before it makes the token the 17th: never looked at, the body is refused.
    assert refusal(BodyToken("meta.secret"), body(15)).code == "bad_token"


def test_the_json_token_is_found_however_it_is_spaced_and_redacted_as_the_body_escapes_it() -> None:
    token = "tok/en-0123456789abcdef"
    verifier = make_verifier(BodyToken("meta.secret"), (token,))
    # JSON may escape '/' as '\/'; an encoder's spelling of the token would miss that one.
    body = b'{\n  "meta" : {\n    "secret"\t:\r\n "tok\\/en-0123456789abcdef"\n  }\n}'
    sender = verifier.verify(RequestView(body, {}, None, 0))
    assert "tok\\/en-0123456789abcdef" in sender.redact and token in sender.redact


def test_form_field_is_found_plain_or_encoded_and_only_as_a_whole_field() -> None:
    for body in (b"event=X&auth%5Bapplication_token%5D=" + TOKEN.encode(),
                 b"auth[application_token]=" + TOKEN.encode() + b"&event=X",
                 b"event=X&auth%5bapplication_token%5d=" + TOKEN.encode()):
        assert TOKEN in check(Bitrix24(), body).redact
    # The name inside another field's value, or as part of a longer name, is not the field.
    for body in (b"note=auth%5Bapplication_token%5D%3D" + TOKEN.encode(),
                 b"xauth%5Bapplication_token%5D=" + TOKEN.encode(),
                 b"auth%5Bapplication_token%5Dx=" + TOKEN.encode()):
        refused = refusal(Bitrix24(), body)
        assert (refused.code, "missing from the body" in refused.message) == ("missing_token", True)


def test_a_form_field_given_twice_is_refused_however_often_it_repeats() -> None:
    twice = b"auth%5Bapplication_token%5D=" + TOKEN.encode() + b"&auth%5Bapplication_token%5D=" + TOKEN.encode()
    refused = refusal(Bitrix24(), twice)
    assert refused.code == "missing_token" and "more than once" in refused.message
    bare = b"auth%5Bapplication_token%5D&auth%5Bapplication_token%5D=" + TOKEN.encode()  # a bare name counts
    assert "more than once" in refusal(Bitrix24(), bare).message
    many = b"auth%5Bapplication_token%5D=x&" * 30_000
    started = time.process_time()
    assert "more than once" in refusal(Bitrix24(), many).message
    print(f"\n{len(many)} bytes, field 30,000 times: {(time.process_time() - started) * 1000:.2f} ms CPU")


def test_a_megabyte_of_empty_form_pairs_is_refused() -> None:
    body = b"a&" * (1024 * 1024 // 2)
    started = time.process_time()
    refused = refusal(Bitrix24(), body)
    print(f"\n{len(body)} bytes of a&a&: {(time.process_time() - started) * 1000:.2f} ms CPU")
    assert refused.code == "missing_token"
