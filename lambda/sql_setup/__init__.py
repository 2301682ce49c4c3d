"""The SQL sink's set-up step: the `events` schema created and migrated, and its users made, by a CloudFormation
custom resource the relational stack runs (docs/sql-sink.md)."""
