"""What the upload job needs to know about one stream, as one typed value that crosses deploy -> Cloud Run
job env -> job through one codec (`to_env` / `from_env`, a round trip the tests check)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from service.model.ads import GoogleAdsConversions

ADS_UPLOAD_ENV = "HOOKSTREAM_ADS_UPLOAD"
# Locally only: the Data Manager stand-in (tools/local/datamanager_standin.py) instead of Google.
DATAMANAGER_ENDPOINT_ENV = "HOOKSTREAM_DATAMANAGER_ENDPOINT"
# Locally only: the Google Ads API stand-in (tools/local/googleads_standin.py), host:port.
GOOGLE_ADS_ENDPOINT_ENV = "HOOKSTREAM_GOOGLE_ADS_ENDPOINT"
# The Google Ads API developer token for retractions: from Secret Manager on Cloud Run (the declaration's
# developer_token_secret, infra/ads_resources.py), unset when none is declared. Never logged.
DEVELOPER_TOKEN_ENV = "HOOKSTREAM_GOOGLE_ADS_DEVELOPER_TOKEN"


@dataclass(frozen=True)
class AdsUploadConfig:
    stream: str
    project: str
    dataset: str
    view: str  # `<table>_ads_conversions`
    ledger: str  # `<table>_ads_uploads`
    operating_account: str
    conversion_destination: str
    import_window_days: int
    login_account: str | None = None

    @classmethod
    def of(cls, stream_name: str, project: str, dataset: str, table: str,
           ads: GoogleAdsConversions) -> AdsUploadConfig:
        from service.model.ads import ADS_CONVERSIONS_SUFFIX, ADS_UPLOADS_SUFFIX

        return cls(stream=stream_name, project=project, dataset=dataset, view=f"{table}{ADS_CONVERSIONS_SUFFIX}",
                   ledger=f"{table}{ADS_UPLOADS_SUFFIX}", operating_account=ads.operating_account,
                   conversion_destination=ads.conversion_destination, import_window_days=ads.import_window_days,
                   login_account=ads.login_account)

    @property
    def view_path(self) -> str:
        return f"{self.project}.{self.dataset}.{self.view}"

    @property
    def ledger_path(self) -> str:
        return f"{self.project}.{self.dataset}.{self.ledger}"

    def to_env(self) -> dict[str, str]:
        return {ADS_UPLOAD_ENV: json.dumps(asdict(self), sort_keys=True)}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AdsUploadConfig:
        raw = env.get(ADS_UPLOAD_ENV)
        if not raw:
            raise ValueError(f"{ADS_UPLOAD_ENV} is not set: the upload job's settings come from the deploy")
        return cls(**json.loads(raw))
