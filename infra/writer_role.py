"""What a stream's service account may do to its table: the permissions of the deployment's custom role.

Kept apart from the stacks so tests and tools can read it without loading the provider bindings.
"""

# service/runtime/sink.py sends one tabledata.insertAll request per write (through the client's own
# connection) and never reads the table first (no tables.get, no datasets.get; tests/infra/
# test_writer_permissions.py records the service's requests). insertAll needs exactly
# bigquery.tables.updateData. roles/bigquery.dataEditor, the narrowest predefined role that has it, would
# also let a stream's account read every row, change the schema and delete the table.
TABLE_WRITER_PERMISSIONS = ("bigquery.tables.updateData",)
