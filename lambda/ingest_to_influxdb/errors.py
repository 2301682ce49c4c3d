"""The failures that must not lose a reading: retried here, then by Lambda or SQS, then dead-lettered."""


class TransientError(RuntimeError):
    """A dependency (InfluxDB, DynamoDB, SQS, Secrets Manager) failed in a way that may pass."""
