"""The webhook function's fixtures for these tests (tests/support/webhook_env.py)."""

from tests.support.function_env import function
from tests.support.webhook_env import webhook

__all__ = ["function", "webhook"]
