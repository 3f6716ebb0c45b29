"""`scripts/backfill`: load a CRM export into a stream's table as hits, so history and live calls share
one table and one `<table>_latest` view.

sources.py opens a local file, gs:// or s3:// object as bytes; records.py turns CSV/NDJSON into
records and records into rows (payload as the CRM's webhook would send it, deterministic hit_id);
load.py writes them in batches and skips what an earlier run already loaded; __main__.py is the CLI.
"""
