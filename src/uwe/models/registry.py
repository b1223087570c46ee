"""The one way uwe builds its own components: a :class:`Registry` per kind, filled by decorators.

Scoring heads (:data:`uwe.models.heads.HEADS`), losses (:data:`uwe.models.losses.LOSSES`), poolings
(:data:`uwe.models.pooling.POOLINGS`) and evaluation models (:data:`uwe.eval.models.MODELS`) each have one.
A config node ``{name: <registered name>, **kwargs}`` names a component and the arguments it is built with
(``head: {name: soft_li, tau_a: 0.1, normalize_query_tokens: true}``). Lightning, W&B and torch objects
(trainer, logger, optimizer) keep Hydra's ``_target_``.

A registry made with its package's name imports every module of that package on its first lookup, so a new
file there that registers a component is found without editing the package's ``__init__``:

    # src/uwe/models/heads/bilinear.py
    @HEADS.register("bilinear")
    class BilinearHead(ScoringHead): ...

Example:
    >>> shapes = Registry("shape")
    >>> @shapes.register("square")
    ... def square(side: float = 1.0) -> float:
    ...     return side * side
    >>> shapes.build("square", side=3.0), shapes.names()
    (9.0, ['square'])
    >>> shapes.build("circle")
    Traceback (most recent call last):
    ...
    uwe.errors.ConfigError: unknown shape 'circle'; valid: square
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from omegaconf import DictConfig, OmegaConf

from uwe.errors import ConfigError

T = TypeVar("T")


def config_kwargs(cfg) -> dict:
    """A component config (``{name, **kwargs}``) without its name: the keyword arguments of its class."""
    return {k: v for k, v in dict(cfg).items() if k != "name"}


class Registry(Mapping[str, T], Generic[T]):
    """Names -> components (classes or functions) of one ``kind``, in the order they were registered.

    A read-only mapping (``name in HEADS``, ``HEADS[name]``, ``HEADS.items()``); components join it only through
    :meth:`register`. Errors list the valid names in that order.

    Args:
        kind: what the components are, for messages ("head", "loss", ...).
        package: the dotted name of the package whose modules register here; every one of them is imported
            on the first lookup. None: the components are registered by modules imported anyway.
    """

    def __init__(self, kind: str, package: str | None = None):
        self.kind, self.package = kind, package
        self._entries: dict[str, T] = {}
        self._discovered = package is None

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator that registers the class or function it decorates as ``name`` and returns it unchanged.

        A second component under a taken name is a ``ValueError`` (a bug, not a user's config mistake); the
        same definition registered again (its module imported anew) replaces the first.
        """

        def decorator(component: T) -> T:
            taken = self._entries.get(name)
            if taken is not None and _qualified_name(taken) != _qualified_name(component):
                raise ValueError(f"{self.kind} {name!r} is registered twice: by {_qualified_name(taken)} and by "
                                 f"{_qualified_name(component)}; rename one")
            self._entries[name] = component
            return component

        return decorator

    def lookup(self, name: str) -> T:
        """The component registered as ``name``; an unknown name is a :class:`ConfigError` listing the valid ones."""
        if not isinstance(name, str) or name not in self:
            raise self.unknown(name)
        return self._entries[name]

    def build(self, name: str, **kwargs: Any):
        """``lookup(name)(**kwargs)``: the component called (a class: instantiated) with ``kwargs``."""
        return self.lookup(name)(**kwargs)

    def from_config(self, cfg: Mapping | DictConfig):
        """The component a config node ``{name, **kwargs}`` describes, built with its other keys."""
        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_container(cfg, resolve=True)
        if "name" not in cfg:
            raise ConfigError(f"the {self.kind} config {dict(cfg)} has no name; valid: {', '.join(self.names())}")
        return self.build(cfg["name"], **config_kwargs(cfg))

    def names(self) -> list[str]:
        """The registered names, sorted (iteration keeps registration order, which depends on import order)."""
        return sorted(self)

    def unknown(self, name: str, also: Iterable[str] = ()) -> ConfigError:
        """The error for an unknown ``name``, listing the registered names and ``also`` (other valid config names)."""
        return ConfigError(f"unknown {self.kind} {name!r}; valid: {', '.join([*self.names(), *also])}")

    def __getitem__(self, name: str) -> T:
        self._discover()
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        self._discover()
        return iter(self._entries)

    def __len__(self) -> int:
        self._discover()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"

    def _discover(self) -> None:
        """Import every module of :attr:`package` once, so each registers what it defines."""
        if self._discovered:
            return
        self._discovered = True  # before importing: a module that looks a name up while imported must not recurse
        try:
            package = importlib.import_module(self.package)
            for module in pkgutil.iter_modules(package.__path__, prefix=f"{self.package}."):
                importlib.import_module(module.name)
        except BaseException:
            self._discovered = False  # a module that failed to import is retried (and fails loudly) next time
            raise


def _qualified_name(component: Any) -> str:
    return f"{getattr(component, '__module__', '?')}.{getattr(component, '__qualname__', repr(component))}"
