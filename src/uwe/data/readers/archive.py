"""Find a file by its inner name in a folder, its subfolders, or any zip in it (ESCO exports)."""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

from uwe.data.errors import DataError


def _zip_member(zf: zipfile.ZipFile, name: str) -> str | None:
    for member in zf.namelist():
        if member.rsplit("/", 1)[-1] == name:
            return member
    return None


ESCO_SOURCES = ("zip", "folder")


def find_member(folder: Path, name: str, prefer: str | None = None) -> Path | None:
    """The path of ``name`` under ``folder``: an extracted file (in any subfolder) or a zip that contains it.

    Exactly one candidate must exist: an extracted file AND a zip holding it is an error naming both unless
    ``prefer`` (``"zip"`` or ``"folder"``, ``data.esco_source``) says which is read; two extracted copies or
    two zips holding it are an error naming them.
    """
    if prefer not in (None, *ESCO_SOURCES):
        raise DataError(f"data.esco_source={prefer!r} is not one of {', '.join(ESCO_SOURCES)} (or null)")
    if not folder.is_dir():
        return None
    direct = sorted(p for p in folder.rglob(name) if p.is_file())
    zips = []
    for z in sorted(folder.rglob("*.zip")):
        try:
            with zipfile.ZipFile(z) as zf:
                if _zip_member(zf, name):
                    zips.append(z)
        except zipfile.BadZipFile as e:
            raise DataError(f"{z} is not a readable zip ({e}); download it again") from e
    if direct and zips and prefer is None:
        raise DataError(f"{name} is both extracted ({direct[0]}) and in the zip {zips[0]}; say which one is read "
                        "with data.esco_source=zip or data.esco_source=folder (--esco-source for python -m uwe.data), "
                        "or remove one")
    chosen = zips if (zips and prefer == "zip") or not direct else direct
    if len(chosen) > 1:
        raise DataError(f"{name} is found {len(chosen)} times under {folder}: {', '.join(map(str, chosen))}; "
                        "keep one")
    return chosen[0] if chosen else None


def damaged_archive(path: Path, member: str, err: Exception) -> DataError:
    """The one error for a zip whose member cannot be read back (a bad CRC, a broken deflate stream, a cut-off
    file): it names the archive and member and says how to get a good copy."""
    reason = " ".join(str(err).split()) or type(err).__name__
    return DataError(f"{path}: its member {member} is damaged ({type(err).__name__}: {reason}); the archive is corrupt "
                     "(an interrupted download or a bad disk copy): download it again (python -m uwe.data fetch "
                     "prints where)")


# what zipfile raises for a damaged member: a CRC or header mismatch, a broken deflate stream, a cut-off file,
# an encrypted or unsupported entry
ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError, ValueError)


def read_member(path: Path, name: str) -> bytes:
    """The bytes of the member of the zip ``path`` whose file name is ``name`` (in any folder of the archive),
    checked against its CRC; a missing member or a damaged archive is a :class:`DataError` naming both."""
    try:
        with zipfile.ZipFile(path) as zf:
            member = _zip_member(zf, name)
            if member is None:
                raise DataError(f"{path} holds no {name} (it has: {', '.join(sorted(zf.namelist())[:12])}); "
                                "use the official ESCO CSV export")
            try:
                return zf.read(member)
            except ZIP_READ_ERRORS as err:
                raise damaged_archive(path, member, err) from err
    except zipfile.BadZipFile as err:  # the archive's own directory is unreadable
        raise DataError(f"{path} is not a readable zip ({err}); download it again") from err


def open_bytes(path: Path, name: str) -> io.BytesIO:
    """The bytes of ``name``: ``path`` itself, or its member inside the zip ``path``."""
    if path.suffix.lower() != ".zip":
        return io.BytesIO(path.read_bytes())
    return io.BytesIO(read_member(path, name))
