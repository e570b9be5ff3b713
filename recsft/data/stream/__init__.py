"""Out-of-core ``recsft data prepare``: peak memory bounded by a setting, not by the data.

ENGINE (to be completed with the measurement).
"""

from __future__ import annotations

from recsft.data.stream.inputs import STREAM_FORMATS, EventInput, read_folder_log
from recsft.data.stream.pipeline import (
    DEFAULT_MEMORY_GIB,
    STREAM_OPTIONS,
    choose_engine,
    prepare_stream,
    unsupported_options,
)

__all__ = [
    "DEFAULT_MEMORY_GIB",
    "STREAM_FORMATS",
    "STREAM_OPTIONS",
    "EventInput",
    "choose_engine",
    "prepare_stream",
    "read_folder_log",
    "unsupported_options",
]
