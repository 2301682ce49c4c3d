"""One module per CloudFormation stack; each exposes `STACK` (see `infrastructure.registry`)."""
