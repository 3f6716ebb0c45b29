"""The SQL of the views a stream declares, built once for the cdktf stack and the local stack alike."""
