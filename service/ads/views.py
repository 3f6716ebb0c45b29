"""Reading `<table>_ads_conversions` (infra/views/ads_conversions.py builds it)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from service.ads.plan import Conversion

TIMEOUT_SECONDS = 120


def read_conversions(client: Any, view: str) -> list[Conversion]:
    rows = client.query(f"SELECT * FROM `{view}`", timeout=TIMEOUT_SECONDS).result(timeout=TIMEOUT_SECONDS)
    return [Conversion(
        transaction_id=row["transaction_id"], conversion_at=row["conversion_at"], updated_at=row["updated_at"],
        outcome=row["outcome"], value=Decimal(row["value"]), currency=row["currency"], gclid=row["gclid"],
        gbraid=row["gbraid"], wbraid=row["wbraid"], email_sha256=row["email_sha256"],
        phone_sha256=row["phone_sha256"], ad_user_data_consent=row["ad_user_data_consent"],
        ad_personalization_consent=row["ad_personalization_consent"]) for row in rows]
