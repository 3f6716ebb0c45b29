"""The GA4-stitched views of a stream as both stacks create them: one spec per view."""

from __future__ import annotations

from dataclasses import dataclass

from infra.views.ads_conversions import ads_conversions_sql, ads_conversions_view_id
from infra.views.attributed import attributed_view_id, attributed_view_sql, revenue_by_channel_view_id, stitch_of
from infra.views.revenue_by_channel import revenue_by_channel_sql
from infra.views.roi_by_channel import roi_by_channel_sql, roi_by_channel_view_id
from service.model.stream import Stream

ROI_VIEW_NAME = "roi-by-channel-view"
ADS_VIEW_NAME = "ads-conversions-view"


@dataclass(frozen=True)
class ViewSpec:
    """One view as both stacks create it: its id, SQL and description, and the name its resources take."""

    name: str  # the construct id's suffix: f"{stream.name}-{name}"
    view_id: str
    sql: str
    description: str


def attributed_view_specs(stream: Stream, project: str) -> tuple[ViewSpec, ...]:
    """The stitched views in creation order (the later ones read the attributed view), for the cdktf stack
    (infra/attributed_views.py) and the local stack (tools/local/provision.py) alike; with `ads`, the
    `<table>_ads_conversions` view last."""
    stitch = stitch_of(stream)
    specs = (
        ViewSpec("attributed-view", attributed_view_id(stream), attributed_view_sql(stream, project),
                 f"Orders of {stream.table_ref} stitched to GA4 purchases in {stitch.dataset} (hookstream)"),
        ViewSpec("revenue-by-channel-view", revenue_by_channel_view_id(stream), revenue_by_channel_sql(stream, project),
                 f"Web vs CRM-confirmed orders and revenue per day and channel of {stream.table_ref} (hookstream)"),
        ViewSpec(ROI_VIEW_NAME, roi_by_channel_view_id(stream), roi_by_channel_sql(stream, project),
                 f"Cost, GA4 and CRM-final revenue and ROAS per day and campaign of {stream.table_ref} (hookstream)"),
    )
    if stream.ads is None:
        return specs
    return (*specs, ViewSpec(
        ADS_VIEW_NAME, ads_conversions_view_id(stream), ads_conversions_sql(stream, project),
        f"Final orders of {stream.table_ref} as Google Ads conversions, identifiers hashed (hookstream)"))
