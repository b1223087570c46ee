"""Per-head memory of what a head derives from a cached target space (normalised vectors, token blocks).

Inference scores one target space (e.g. the 13,896 ESCO skills) against many query chunks: what depends on
the targets alone is computed on the first call and reused while the same tensors are passed again.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Callable, Hashable

import torch


def _version(tensor: torch.Tensor) -> int:
    """The tensor's in-place modification counter; inference tensors have none (-1)."""
    return -1 if tensor.is_inference() else tensor._version


class TensorMemo:
    """``get(fn, tensors, tag)`` returns ``fn()`` computed once per identical, unmodified ``tensors``.

    An entry is found by the identity of every tensor in ``tensors`` plus ``tag`` (e.g. a dtype), and used only
    while each tensor is the same live object with the same version counter, so an in-place change of a cached
    space (``tokens[0] += 1``) recomputes it. Inference tensors (made under ``torch.inference_mode``) have no
    version counter: only their identity is checked. Entries hold no reference to the tensors: one is dropped
    when its tensors are freed, and at most ``max_entries`` (least recently used out first) are kept.

    Pickling or deep-copying the owning module copies an empty memo: entries are derived data.
    """

    def __init__(self, max_entries: int = 4):
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, tuple[tuple, tuple[int, ...], object]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, fn: Callable[[], object], tensors: tuple[torch.Tensor, ...], tag: Hashable = None) -> object:
        """``fn()``, from memory when ``tensors`` (same objects, unmodified) and ``tag`` were seen before."""
        key = (*map(id, tensors), tag)
        versions = tuple(map(_version, tensors))
        hit = self._entries.get(key)
        if hit is not None:
            refs, seen_versions, value = hit
            if seen_versions == versions and all(ref() is t for ref, t in zip(refs, tensors)):
                self._entries.move_to_end(key)
                return value
        value = fn()
        drop = self._drop_callback(key)
        self._entries[key] = (tuple(weakref.ref(t, drop) for t in tensors), versions, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()

    def _drop_callback(self, key: tuple) -> Callable[[weakref.ref], None]:
        # A weak reference to the memo itself, so that the callbacks never keep a dropped head's memo alive.
        memo = weakref.ref(self)

        def drop(ref: weakref.ref) -> None:
            owner = memo()
            if owner is not None:
                entry = owner._entries.get(key)
                if entry is not None and ref in entry[0]:
                    del owner._entries[key]

        return drop

    def __getstate__(self) -> dict:
        return {"max_entries": self.max_entries}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["max_entries"])
