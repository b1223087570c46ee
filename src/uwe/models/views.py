"""Inference views of a model (its first ``layers`` transformer layers, the first ``dim`` dimensions of its vectors):
which are possible at all, and the one line said when a model is cut to a view it was not trained for.

A view out of range (a width above the model's, depth 0 or above its layer count) is a :class:`ConfigError`; a
view the model was not trained for (:class:`uwe.models.matryoshka.Matryoshka`, ``train.py matryoshka=2d``) is
allowed with one warning line: the first k layers and d dimensions of any model are an embedding, only a worse one.
"""

from __future__ import annotations

from collections.abc import Mapping

from uwe.errors import ConfigError
from uwe.models.matryoshka import Matryoshka


def trained_views(cfg: Mapping | None, dim: int, n_layers: int) -> dict | None:
    """:meth:`Matryoshka.trained` of a checkpoint's ``matryoshka`` hyperparameters for its model (``dim`` wide,
    ``n_layers`` deep), None when it trained the full model alone (or predates the option)."""
    settings = Matryoshka.from_config(cfg)
    return None if settings is None else settings.resolve(dim, n_layers).trained()


def check_view_range(dim: int, n_layers: int, width: int | None = None, layers: int | None = None) -> None:
    """A :class:`ConfigError` unless ``width`` (None: the full one) is between 1 and ``dim`` and ``layers`` between
    1 and ``n_layers``: what no model can give, trained for it or not."""
    if width is not None and (not _is_int(width) or not 1 <= width <= dim):
        raise ConfigError(f"dim={width!r} is not valid: expected a width between 1 and the model's {dim}")
    if layers is not None and (not _is_int(layers) or not 1 <= layers <= n_layers):
        raise ConfigError(f"layers={layers!r} is not valid: expected a depth between 1 and the model's {n_layers}")


def view_warning(trained: Mapping | None, dim: int, n_layers: int, width: int | None = None,
                 layers: int | None = None) -> str | None:
    """The one line inference logs when it truncates a model to a view it was not trained for, None when the view is
    the full model or a trained one; a :class:`ConfigError` for a view out of range (:func:`check_view_range`).

    An untrained view is allowed: the first k layers and d dimensions of any model are an embedding, only a worse
    one.

    Examples:
        >>> view_warning({"widths": [384, 128], "layers": [6, 3]}, 384, 6, width=128, layers=3) is None
        True
        >>> view_warning({"widths": [384, 128], "layers": [6, 3]}, 384, 6, width=100)
        'dim=100: this model was trained for widths 384, 128 and layers 6, 3 (train.py matryoshka=2d), not this view; using it anyway'
        >>> view_warning(None, 384, 6, layers=4)
        'layers=4: this model was not trained for truncation (train.py matryoshka=2d), only at its full width 384 and depth 6; using it anyway'
    """
    check_view_range(dim, n_layers, width, layers)
    if width in (None, dim) and layers in (None, n_layers):
        return None
    asked = _asked(width, layers)
    if trained is None:
        return (f"{asked}: this model was not trained for truncation (train.py matryoshka=2d), only at its full width "
                f"{dim} and depth {n_layers}; using it anyway")
    if width not in (None, dim, *trained["widths"]) or layers not in (None, n_layers, *trained["layers"]):
        widths, depths = (", ".join(map(str, trained[key])) for key in ("widths", "layers"))
        return (f"{asked}: this model was trained for widths {widths} and layers {depths} (train.py matryoshka=2d), "
                "not this view; using it anyway")
    return None


def _asked(width: int | None, layers: int | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (("dim", width), ("layers", layers)) if v is not None)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
