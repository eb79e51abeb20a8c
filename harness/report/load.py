"""raw.jsonl's reader, for the report (it lives in harness.rawio beside the writer)."""

from harness.rawio import RawData, read_raw

__all__ = ["RawData", "read_raw"]
