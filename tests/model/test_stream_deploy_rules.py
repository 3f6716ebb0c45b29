"""Stream rules that exist because of what the deployed resources can do."""

from __future__ import annotations

import pytest

from service.model.latest import LatestView, PayloadField
from service.model.stream import Stream, StreamDefinitionError, TableOptions

LATEST = LatestView(fields=(PayloadField("orderId", "STRING"),), key="orderId")


def test_a_latest_view_on_a_table_that_requires_a_partition_filter_is_refused() -> None:
    with pytest.raises(StreamDefinitionError) as error:
        Stream(name="orders", dataset="crm", table="orders", latest=LATEST,
               table_options=TableOptions(require_partition_filter=True))
    message = str(error.value)
    assert message.startswith("stream 'orders': latest='orderId' is invalid: the latest view reads the whole table")
    assert "set require_partition_filter=False or remove latest" in message


def test_either_alone_is_fine() -> None:
    Stream(name="orders", dataset="crm", table="orders", latest=LATEST)
    Stream(name="orders", dataset="crm", table="orders", table_options=TableOptions(require_partition_filter=True))
