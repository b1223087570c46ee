"""Build a component by its config name from a registry (heads, losses)."""

from __future__ import annotations

from uwe.errors import ConfigError


def config_kwargs(cfg) -> dict:
    """A component config (``{name, **kwargs}``) without its name: the keyword arguments of its class."""
    return {k: v for k, v in dict(cfg).items() if k != "name"}


def build_registered(kind: str, registry: dict[str, type], name: str, **kwargs):
    """``registry[name](**kwargs)``, or a ValueError that lists the valid names of this ``kind``."""
    if name not in registry:
        raise ConfigError(f"unknown {kind} {name!r}; valid: {', '.join(registry)}")
    return registry[name](**kwargs)
