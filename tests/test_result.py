"""InteractionResult: views, salience, save/load."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

import captum_interactions as ci
from captum_interactions import InteractionError, InteractionResult, ResultFormatError


def _planted(n: int = 4) -> InteractionResult:
    and_i = torch.zeros(1 << n, dtype=torch.float64)
    or_i = torch.zeros(1 << n, dtype=torch.float64)
    and_i[0] = 0.5
    and_i[0b0011] = 4.0
    and_i[0b0100] = -1.0
    or_i[0b1100] = -2.0
    or_i[0b1000] = 0.3
    values = ci.reconstruct(and_i, or_i)
    return InteractionResult(
        players=["w", "x", "y", "z"],
        values=values,
        and_interactions=and_i,
        or_interactions=or_i,
        target=7,
        target_text=" Paris",
        baseline="pad",
        value_kind="log_odds",
        extraction={"mode": "none"},
        metadata={"model": "toy", "prompt": "w x y z"},
    )


def test_salient_views():
    result = _planted()
    labels = [(term.label, term.type, term.order, term.sign) for term in result.salient()]
    assert labels == [("w & x", "and", 2, 1), ("y | z", "or", 2, -1), ("y", "and", 1, -1),
                      ("z", "or", 1, 1)]
    assert [t.label for t in result.salient(0.3)] == ["w & x", "y | z"]
    assert [t.label for t in result.salient(absolute=1.0)] == ["w & x", "y | z", "y"]
    assert [t.label for t in result.salient(top_k=1)] == ["w & x"]
    assert len(result.salient(top_fraction=1.0)) == 4  # zeros are never salient
    merged = result.salient(merge_singletons=True)
    assert ("z", "and") in {(t.label, t.type) for t in merged}
    assert result.objective == pytest.approx(7.3)
    assert result.matching_error() < 1e-12


def test_order_histogram_and_records():
    result = _planted()
    assert result.order_histogram() == {"and": [0, 1, 1, 0, 0], "or": [0, 1, 1, 0, 0]}
    records = result.to_records()
    assert records[0] == {"players": "w & x", "indices": [0, 1], "mask": 3, "type": "and",
                          "order": 2, "value": 4.0, "sign": 1}


def test_save_load_round_trip_is_exact(tmp_path):
    result = _planted()
    result.q = torch.randn(16, dtype=torch.float64) * 1e-3
    result.bound = 0.01
    path = result.save(tmp_path / "result.npz")
    loaded = InteractionResult.load(path)
    for name in ("values", "and_interactions", "or_interactions", "p", "q"):
        assert torch.equal(getattr(loaded, name), getattr(result, name)), name
    for name in ("players", "bound", "target", "target_text", "baseline", "value_kind",
                 "extraction", "metadata", "version", "mask_convention"):
        assert getattr(loaded, name) == getattr(result, name), name
    with np.load(path, allow_pickle=False) as data:  # readable with pickle disabled
        assert json.loads(str(data["header"]))["format_version"] == 1


def test_load_rejects_other_versions_and_corrupt_files(tmp_path):
    path = _planted().save(tmp_path / "r.npz")
    with np.load(path) as data:
        arrays = dict(data)
    header = json.loads(str(arrays["header"]))
    header["format_version"] = 99
    arrays["header"] = np.array(json.dumps(header))
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(ResultFormatError, match="format version 99"):
        InteractionResult.load(tmp_path / "future.npz")

    (tmp_path / "broken.npz").write_bytes(path.read_bytes()[:100])
    with pytest.raises(ResultFormatError, match="not a readable"):
        InteractionResult.load(tmp_path / "broken.npz")

    with zipfile.ZipFile(tmp_path / "other.npz", "w") as archive:
        archive.writestr("something.npy", b"")
    with pytest.raises(ResultFormatError):
        InteractionResult.load(tmp_path / "other.npz")


def test_construction_errors():
    with pytest.raises(InteractionError, match="3 player labels"):
        InteractionResult(["a", "b", "c"], torch.zeros(4), torch.zeros(4), torch.zeros(4))
    with pytest.raises(InteractionError, match="unique"):
        InteractionResult(["a", "a"], torch.zeros(4), torch.zeros(4), torch.zeros(4))
    with pytest.raises(InteractionError, match="or_interactions has shape"):
        InteractionResult(["a", "b"], torch.zeros(4), torch.zeros(4), torch.zeros(8))
    with pytest.raises(InteractionError, match="bound"):
        InteractionResult(["a", "b"], torch.zeros(4), torch.zeros(4), torch.zeros(4), bound=-1)


def test_save_rejects_non_json_metadata(tmp_path):
    result = _planted()
    result.metadata["model"] = object()
    with pytest.raises(InteractionError, match="JSON"):
        result.save(tmp_path / "x.npz")


def test_salient_masks_batched_matches_per_sample():
    and_i, or_i = torch.randn(2, 5, 32)
    keep_and, keep_or = ci.salient_masks(and_i, or_i, tau=0.3)
    for row in range(5):
        single = ci.salient_masks(and_i[row], or_i[row], tau=0.3)
        assert torch.equal(keep_and[row], single[0])
        assert torch.equal(keep_or[row], single[1])
