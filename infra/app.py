"""Build the cdktf app from the reviewed stream list, without writing anything (tests call this)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping

from infra.config import DeployConfig, load_config
from infra.engine.core import App
from infra.naming import REGISTRY_STACK, STREAMS_STACK, check_deployable
from infra.retired import RetiredStream, check_retired
from service.model.stream import Stream


def _print_warning(message: str) -> None:
    print(f"WARNING: {message}", file=sys.stderr)


def auth_warnings(streams: tuple[Stream, ...]) -> list[str]:
    """What a reviewer should see before deploying an endpoint anyone can write to."""
    return [f"stream {stream.name!r} has auth mode 'none': anyone who knows its URL can write rows "
            f"to {stream.table_ref}; use TokenAuth(), HmacAuth(...) or StandardWebhooksAuth() unless "
            "the endpoint is protected some other way"
            for stream in streams if stream.auth.mode == "none"]


def ads_warnings(streams: tuple[Stream, ...]) -> list[str]:
    """Streams whose refunds would not reach Google Ads: no developer token for the Google Ads API."""
    return [f"stream {stream.name!r} declares ads without developer_token_secret: refunds, cancellations and "
            "chargebacks are not retracted in Google Ads (bidding keeps counting them); they wait in the ledger "
            "and are sent once a developer token is declared (docs/ads.md, \"Which API does what\")"
            for stream in streams if stream.ads is not None and stream.ads.developer_token_secret is None]


def build_app(streams: tuple[Stream, ...] | None = None, config: DeployConfig | None = None, *,
              environ: Mapping[str, str] | None = None, outdir: str | None = None,
              warn: Callable[[str], None] = _print_warning,
              retired: tuple[RetiredStream, ...] | None = None) -> App:
    """The app for `streams` (default: infra/streams.py) deployed per `config` (default: env/context).

    Streams and settings are validated before the provider bindings are imported (~15 s, ~1 GB),
    so a typo fails in about a second.
    """
    if streams is None:
        from infra.streams import STREAMS  # here, so tests can build apps from their own streams

        streams = STREAMS
        if retired is None:
            from infra.streams import RETIRED_STREAMS

            retired = RETIRED_STREAMS
    retired = retired or ()
    names = check_deployable(streams)
    check_retired(retired, streams)
    app = App(outdir=outdir) if outdir else App()
    if config is None:
        from infra.environments import ENVIRONMENTS

        config = load_config(os.environ if environ is None else environ, app.node.try_get_context, ENVIRONMENTS)
    for message in auth_warnings(streams) + ads_warnings(streams):
        warn(message)
    from infra.observability import no_alerts_warning
    from infra.stacks import RegistryStack, StreamsStack

    no_alerts = no_alerts_warning(config)
    if no_alerts:
        warn(no_alerts)

    RegistryStack(app, config.stack_name(REGISTRY_STACK), config)
    StreamsStack(app, config.stack_name(STREAMS_STACK), streams, config, names, retired)
    return app
