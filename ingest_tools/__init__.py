"""Operator tools of the ingest pipeline, run from a workstation or CI, never in Lambda: `replay` (dead letters
back through the ingest code), `load_metadata` (device metadata into the table) and `tooling` (where a
deployment's resources are)."""
