"""The shared secret the service sends with every delivery (the callback's header), from Secrets Manager.

API Gateway's authorizer (lambda/webhook_authorizer) refuses a wrong header before this function is invoked; the
function checks it again, the same way (both versions a rotation leaves valid, AWSCURRENT and AWSPREVIOUS), so a
route deployed without the authorizer still writes nothing for a caller without the secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest_to_influxdb.errors import TransientError
from webhook_authorizer.secret import HEADER, CallbackSecret, SecretUnreadable, header_value

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

__all__ = ["HEADER", "MISSING", "WRONG", "SecretUnavailable", "SharedSecret"]

MISSING, WRONG = "missing", "wrong"  # why a delivery is refused


class SecretUnavailable(TransientError):
    """The secret could not be read: the delivery is answered 503, so the service sends it again."""


class SharedSecret:
    def __init__(self, client: SecretsManagerClient, secret_id: str) -> None:
        self.secret = CallbackSecret(client, secret_id)

    def refusal(self, headers: dict[str, str]) -> str | None:
        """Why the delivery is refused ("missing" or "wrong" header), or None when its header is `Bearer` and
        the secret of a valid version (compared in constant time)."""
        given = header_value(headers)
        if not given:
            return MISSING
        try:
            return None if self.secret.matches(given) else WRONG
        except SecretUnreadable as error:
            raise SecretUnavailable(str(error)) from None

    def accepts(self, headers: dict[str, str]) -> bool:
        return self.refusal(headers) is None
