"""The function's fixture for these tests (tests/support/function_env.py)."""

from tests.support.function_env import function

__all__ = ["function"]
