"""The deploy code: the reviewed stream list (streams.py, environments.py) and the cdktf app built from it."""
