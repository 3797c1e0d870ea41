"""Atomic writes: whole files only, the umask's mode, leftovers findable."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from captum_interactions import InteractionResult
from captum_interactions._files import atomic_path, partial_files


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_take_the_umasks_mode(tmp_path, umask):
    previous = os.umask(umask)
    try:
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("x")
        values = torch.zeros(4)
        InteractionResult(["a", "b"], values, values, values).save(tmp_path / "r.npz")
    finally:
        os.umask(previous)
    for name in ("a.txt", "r.npz"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask


def test_leftovers_of_a_killed_writer_are_found(tmp_path):
    (tmp_path / "sub").mkdir()
    leftover = tmp_path / "sub" / ".partial.0123.x.npz"
    leftover.write_bytes(b"")
    (tmp_path / "x.npz").write_bytes(b"")
    assert partial_files(tmp_path) == [leftover]
