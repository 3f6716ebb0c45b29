"""hookstream's infrastructure: the reviewed stream list and the CDK-for-Terraform app built from it."""
