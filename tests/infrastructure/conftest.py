"""The synthesized templates come from tests/conftest.py (`stacks`, `templates`: built once per session)."""
