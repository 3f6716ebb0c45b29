"""A stream's GA4-stitched views (`<table>_attributed`, `<table>_revenue_by_channel`,
`<table>_roi_by_channel`) and their grants.

Authorized views: an analyst needs read access to the stream's dataset only, never to the raw GA4
export; the views' SQL (fixed in code review) is what reaches it. The deploying identity needs
`bigquery.datasets.update` on the GA4 dataset to add one entry per view, and on each cost source's
dataset (the Google Ads transfer's, a cost table's) to add the ROI view; nothing else in those datasets'
access lists is touched (google_bigquery_dataset_access adds one entry each).
"""

from __future__ import annotations

from constructs import Construct

from infra.engine import providers as gcp
from infra.views.attributed import ga4_project
from infra.views.roi_by_channel import cost_datasets
from infra.views.stitched import ROI_VIEW_NAME, attributed_view_specs
from service.model.stream import Stream


class AttributedViews(Construct):
    """The views built from infra/views/attributed.py's specs, each authorized on the GA4 export dataset.

    `views` (in creation order), `ga4_grants` and `cost_grants` are the resources made; child ids start with the
    stream name, like the rest of the stream's resources.
    """

    def __init__(self, scope: Construct, id: str, stream: Stream, project: str, dataset: gcp.BigqueryDataset,
                 latest_view: gcp.BigqueryTable, labels: dict[str, str]) -> None:
        super().__init__(scope, id)
        stitch = stream.stitch
        if stitch is None:
            raise ValueError(f"stream {stream.name!r} declares no GA4 stitch (Stream.stitch is None)")
        self.views: list[gcp.BigqueryTable] = []
        self.ga4_grants: list[gcp.BigqueryDatasetAccess] = []
        # By spec name (infra/views/stitched.py): the ROI view's cost grants, the ads upload's grants.
        self.by_name: dict[str, gcp.BigqueryTable] = {}
        for spec in attributed_view_specs(stream, project):
            view = gcp.BigqueryTable(
                self, f"{stream.name}-{spec.name}",
                dataset_id=dataset.dataset_id,
                table_id=spec.view_id,
                description=spec.description,
                view=gcp.BigqueryTableView(query=spec.sql, use_legacy_sql=False),
                deletion_protection=False,  # a view holds no data
                labels=labels,
                # Each view is created after the one before it (the first after the latest view, which it
                # reads; the later ones read the attributed view).
                depends_on=[self.views[-1] if self.views else latest_view],
            )
            self.views.append(view)
            self.by_name[spec.name] = view
            # Every view, not only the one that names events_*: a view reading another view works
            # however BigQuery resolves nested authorization, and each can only run its own SQL.
            self.ga4_grants.append(gcp.BigqueryDatasetAccess(
                self, f"{stream.name}-{spec.name}-ga4-access",
                project=ga4_project(stream, project),
                dataset_id=stitch.dataset,
                view=gcp.BigqueryDatasetAccessView(project_id=project, dataset_id=view.dataset_id,
                                                   table_id=view.table_id),
            ))
        # The ROI view also reads the cost sources.
        roi_view = self.by_name[ROI_VIEW_NAME]
        self.cost_grants: list[gcp.BigqueryDatasetAccess] = []
        for index, (cost_project, cost_dataset) in enumerate(cost_datasets(stream, project)):
            self.cost_grants.append(gcp.BigqueryDatasetAccess(
                self, f"{stream.name}-roi-cost-{index}-access",
                project=cost_project,
                dataset_id=cost_dataset,
                view=gcp.BigqueryDatasetAccessView(project_id=project, dataset_id=roi_view.dataset_id,
                                                   table_id=roi_view.table_id),
            ))
