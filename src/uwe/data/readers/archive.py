"""Find a file by its inner name in a folder, its subfolders, or any zip in it (ESCO exports)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from uwe.data.errors import DataError


def _zip_member(zf: zipfile.ZipFile, name: str) -> str | None:
    for member in zf.namelist():
        if member.rsplit("/", 1)[-1] == name:
            return member
    return None


def find_member(folder: Path, name: str) -> Path | None:
    """The path of ``name`` under ``folder`` (recursively), else the first zip there that contains it."""
    if not folder.is_dir():
        return None
    direct = sorted(p for p in folder.rglob(name) if p.is_file())
    if direct:
        return direct[0]
    for z in sorted(folder.rglob("*.zip")):
        try:
            with zipfile.ZipFile(z) as zf:
                if _zip_member(zf, name):
                    return z
        except zipfile.BadZipFile as e:
            raise DataError(f"{z} is not a readable zip ({e}); download it again") from e
    return None


def open_bytes(path: Path, name: str) -> io.BytesIO:
    """The bytes of ``name``: ``path`` itself, or its member inside the zip ``path``."""
    if path.suffix.lower() != ".zip":
        return io.BytesIO(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        member = _zip_member(zf, name)
        if member is None:
            raise DataError(
                f"{path} holds no {name} (it has: {', '.join(sorted(zf.namelist())[:12])}); "
                "use the official ESCO CSV export"
            )
        return io.BytesIO(zf.read(member))
