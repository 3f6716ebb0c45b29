"""A stream's answer budget is checked against the time its sender waits, as the vendor publishes it."""

from __future__ import annotations

import pytest

from service.model.senders import GitHub, HubSpot, Shopify, Slack, Stripe
from service.model.stream import Stream, StreamDefinitionError


def stream(**settings: object) -> Stream:
    return Stream(name="orders", dataset="crm", table="orders", **settings)  # type: ignore[arg-type]


def test_the_default_budget_is_two_seconds() -> None:
    assert stream().answer_budget_seconds == 2.0


@pytest.mark.parametrize(("auth", "largest_budget"), [
    (Shopify(), 4.0),  # Shopify waits 5 s
    (Slack(), 2.0),  # Slack waits 3 s
    (GitHub(), 9.0),  # GitHub waits 10 s
    (HubSpot(), 4.0),  # HubSpot waits 5 s
])
def test_a_budget_that_leaves_the_sender_no_margin_is_refused_with_its_limit(auth: object,
                                                                             largest_budget: float) -> None:
    assert stream(auth=auth, answer_budget_seconds=largest_budget).answer_budget_seconds == largest_budget
    with pytest.raises(StreamDefinitionError, match=rf"answer_budget_seconds.*use at most {largest_budget:g} s"):
        stream(auth=auth, answer_budget_seconds=largest_budget + 0.5)


def test_a_sender_without_a_published_limit_takes_any_budget_up_to_ten_seconds() -> None:
    assert stream(auth=Stripe(), answer_budget_seconds=8.0).answer_budget_seconds == 8.0
    with pytest.raises(StreamDefinitionError, match=r"from 0\.1 to 10"):
        stream(answer_budget_seconds=12.0)
    with pytest.raises(StreamDefinitionError, match=r"from 0\.1 to 10"):
        stream(answer_budget_seconds=0)
