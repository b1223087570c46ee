"""Errors of the data layer: each names the file or value at fault and the fix."""

from __future__ import annotations

from uwe.errors import UserError


class DataError(UserError):
    """A raw export or a built task is not what the protocol expects."""


class MissingFilesError(DataError, FileNotFoundError):
    """One or more source files are missing; the message lists every one and where to get it."""

    def __init__(self, missing: list[tuple[str, str, str]]):
        """``missing`` holds (what, where it was looked for, where to get it) triples."""
        self.missing = missing
        lines = [f"{len(missing)} source file(s) missing:"]
        for what, where, hint in missing:
            lines.append(f"  - {what}\n      looked for: {where}\n      get it: {hint}")
        lines.append(
            "Set the data root with `data.root=/path` (Hydra) or the UWE_DATA_DIR environment variable, "
            "or run `python -m uwe.data fetch` on a machine that is online."
        )
        super().__init__("\n".join(lines))


class UnknownNameError(DataError, KeyError):
    """A task, graph or mix name that does not exist; the message lists the valid ones."""

    def __init__(self, kind: str, name: str, valid: list[str]):
        self.name = name
        super().__init__(f"unknown {kind} {name!r}; valid: {', '.join(sorted(valid))}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]
