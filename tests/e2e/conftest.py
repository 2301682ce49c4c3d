"""The deployed pipelines these tests share (tests/support/pipeline.py)."""

from tests.support.pipeline import direct_pipeline, pipeline, pipelines, stream_pipeline

__all__ = ["direct_pipeline", "pipeline", "pipelines", "stream_pipeline"]
