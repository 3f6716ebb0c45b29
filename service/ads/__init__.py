"""The Google Ads upload job: final CRM orders of `<table>_ads_conversions` to the Data Manager API, with
the `<table>_ads_uploads` ledger saying what was sent (docs/ads.md). Runs as a Cloud Run job
(`python -m service.ads`) and locally through scripts/ads-upload."""
