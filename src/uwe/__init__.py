"""uwe: WorkBench-offline and Unified Work Embeddings.

``from uwe import Ranker`` is resolved on first use (module ``__getattr__``), so ``import uwe`` stays light.
"""

__version__ = "0.1.0"
__all__ = ["Ranker", "__version__"]


def __getattr__(name: str):
    if name == "Ranker":
        from uwe.ranker import Ranker

        return Ranker
    raise AttributeError(f"module 'uwe' has no attribute {name!r}")
