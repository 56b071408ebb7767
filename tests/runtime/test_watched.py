"""A watched file: re-read when it changes or on demand; a broken one keeps the old value."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from gateway.runtime.watched import MAX_FILE_BYTES, FileError, WatchedFile


def numbers(data: bytes) -> list[int]:
    """A tiny format for the tests: one integer a line."""
    values = []
    for number, line in enumerate(data.decode().splitlines(), 1):
        if not line.isdigit():
            raise FileError("expected an integer", number)
        values.append(int(line))
    return values


def test_change_is_seen_and_a_broken_file_keeps_the_value(tmp_path: Path, caplog) -> None:
    path = tmp_path / "values"
    path.write_text("1\n2\n")
    watched = WatchedFile(str(path), numbers, "values file")
    assert watched.value == [1, 2] and not watched.refresh()
    path.write_text("3\n")
    assert watched.refresh() and watched.value == [3]
    path.write_text("4\nsecret-content\n")
    with caplog.at_level(logging.ERROR):
        assert not watched.refresh()
        assert not watched.refresh()  # logged once per change, not once per poll
    assert watched.value == [3]
    (record,) = caplog.records
    assert record.line == 2 and "line 2" in record.getMessage()
    assert "secret-content" not in caplog.text
    with caplog.at_level(logging.ERROR):
        assert not watched.refresh(force=True)  # SIGHUP reads it again
    assert len(caplog.records) == 2


def test_a_replaced_or_removed_file(tmp_path: Path, caplog) -> None:
    """Kubernetes updates a mounted Secret by swapping a symlink; stat follows it."""
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "values").write_text("1\n")
    (tmp_path / "data").symlink_to("v1")
    watched = WatchedFile(str(tmp_path / "data" / "values"), numbers, "values file")
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "values").write_text("2\n")
    (tmp_path / "next").symlink_to("v2")
    os.replace(tmp_path / "next", tmp_path / "data")
    assert watched.refresh() and watched.value == [2]
    (tmp_path / "v2" / "values").unlink()
    with caplog.at_level(logging.ERROR):
        assert not watched.refresh()
    assert watched.value == [2] and "cannot be read" in caplog.text


def test_start_refuses_a_broken_missing_or_huge_file(tmp_path: Path) -> None:
    path = tmp_path / "values"
    with pytest.raises(FileError, match="cannot be read"):
        WatchedFile(str(path), numbers, "values file")
    path.write_text("x\n")
    with pytest.raises(FileError, match="line 1"):
        WatchedFile(str(path), numbers, "values file")
    path.write_bytes(b"1\n" * (MAX_FILE_BYTES // 2 + 1))
    with pytest.raises(FileError, match="larger than"):
        WatchedFile(str(path), numbers, "values file")
