"""uwe: WorkBench-offline and Unified Work Embeddings."""

__version__ = "0.1.0"
