"""The HTTP service of a :class:`uwe.ranker.Ranker` (``uwe serve``)."""

from uwe.serve.app import create_app

__all__ = ["create_app"]
