"""uwe.files: whole-file checksums that notice edits, and writes that leave the old file on failure."""

import hashlib

import pytest

from uwe.files import atomic_write, sha256_of


def test_sha256_of_is_the_sha256_of_the_bytes_and_sees_an_edit(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"abc")
    assert sha256_of(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_of(str(path)) == sha256_of(path)
    path.write_bytes(b"abcd")  # a new size: the memo key changes even where mtime has a coarse clock
    assert sha256_of(path) == hashlib.sha256(b"abcd").hexdigest()


def test_sha256_of_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.bin"):
        sha256_of(tmp_path / "absent.bin")


def test_atomic_write_failure_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("old")

    def failing(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, failing)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
    atomic_write(path, lambda tmp: tmp.write_text("new"))
    assert path.read_text() == "new"
