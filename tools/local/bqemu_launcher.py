"""Start bqemulator offline. This file is the one place that works around the emulator as published.

bqemulator 1.4.0 runs `INSTALL spatial` at start-up, a download from DuckDB's extension site; with
no network it then refuses to start. hookstream stores no GEOGRAPHY values, so the loader becomes
a no-op and everything else (REST, insertAll, queries, persistence) runs as shipped.

Second workaround: bqemulator hands SQLGlot's `qualify` pass a schema of each table it reads, built
without RECORD columns (it cannot map them to a DuckDB type). Whenever one of its rewrite rules
fires anywhere in a query (REGEXP_EXTRACT in the latest view does), the query is re-emitted from the
qualified tree, in which `SELECT *` over a table with RECORD columns has lost them: every read of a
nested GA4 column (`e.ecommerce.transaction_id`) then fails with "does not have a column named". So
tables with nested columns are left out of that schema: their `*` stays `*`, nothing else changes.
Usage: python -m tools.local.bqemu_launcher start --rest-port ... (the emulator's own CLI).
"""

import sys


def main() -> None:
    from bqemulator.storage.engine import DuckDBEngine

    def skip_spatial(self: DuckDBEngine) -> None:
        return None

    DuckDBEngine._load_spatial = skip_spatial  # type: ignore[method-assign]
    _keep_nested_columns_in_star()
    from bqemulator.cli import main as emulator_cli

    sys.exit(emulator_cli())


def _keep_nested_columns_in_star() -> None:
    from typing import Any

    import sqlglot
    from bqemulator.sql import catalog_schema, inner_query
    from sqlglot import exp

    original = catalog_schema.build_catalog_schema

    def without_nested_tables(bq_sql: str, *, project_id: str, catalog: Any) -> dict[str, dict[str, str]]:
        schema: dict[str, dict[str, str]] = original(bq_sql, project_id=project_id, catalog=catalog)
        try:
            tree = sqlglot.parse_one(bq_sql, read="bigquery")
        except sqlglot.errors.ParseError:
            return schema
        nested = set()
        for project, dataset in {(t.catalog or project_id, t.db) for t in tree.find_all(exp.Table) if t.db}:
            try:
                tables = catalog.list_tables(project, dataset)
            except Exception:  # an unknown dataset: nothing to leave out
                continue
            nested |= {meta.table_id for meta in tables
                       if any(field.type.upper() in ("RECORD", "STRUCT") for field in meta.schema_.fields)}
        return {table: columns for table, columns in schema.items() if table not in nested}

    inner_query.build_catalog_schema = without_nested_tables  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
