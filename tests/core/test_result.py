"""InteractionResult: views, salience, save/load."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import captum_interactions as ci
from captum_interactions import (
    ExtractionInfo,
    InteractionError,
    InteractionResult,
    ResultFormatError,
    SharedExtraction,
)

#: Result files written by captum-interactions 0.1 (format version 1, extraction a dict).
DATA = Path(__file__).resolve().parents[1] / "data"


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
        extraction=ExtractionInfo(mode="none", solver="none", qcoef=0.0, scale="vN-v0",
                                  subtract_v0=False, objective=7.3, dual=None, gap=None,
                                  converged=None, iterations=0, seconds=0.0),
        metadata={"model": "toy", "prompt": "w x y z"},
    )


def test_salient_views():
    result = _planted()
    split = result.salient(merge_singletons=False)
    labels = [(term.label, term.type, term.order, term.sign) for term in split]
    assert labels == [("w & x", "and", 2, 1), ("y | z", "or", 2, -1), ("y", "and", 1, -1),
                      ("z", "or", 1, 1)]
    # the default view merges OR{z} into AND{z}: the two fire on the same masks
    merged = [(term.label, term.type, term.value) for term in result.salient()]
    assert merged == [("w & x", "and", 4.0), ("y | z", "or", -2.0), ("y", "and", -1.0),
                      ("z", "and", 0.3)]
    assert [t.label for t in result.salient(0.3)] == ["w & x", "y | z"]
    assert [t.label for t in result.salient(absolute=1.0)] == ["w & x", "y | z", "y"]
    assert [t.label for t in result.salient(top_k=1)] == ["w & x"]
    assert len(result.salient(top_fraction=1.0)) == 4  # zeros are never salient
    assert result.objective == pytest.approx(7.3)
    assert result.matching_error() < 1e-12


def test_order_histogram_and_records():
    result = _planted()
    assert result.order_histogram() == {"and": [0, 2, 1, 0, 0], "or": [0, 0, 1, 0, 0]}
    split = result.order_histogram(merge_singletons=False)
    assert split == {"and": [0, 1, 1, 0, 0], "or": [0, 1, 1, 0, 0]}
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
    assert isinstance(loaded.extraction, ExtractionInfo)
    with np.load(path, allow_pickle=False) as data:  # readable with pickle disabled
        assert json.loads(str(data["header"]))["format_version"] == 2


def test_version_1_files_still_load():
    single = InteractionResult.load(DATA / "result-v1.npz")
    assert single.players == ["a", "b", "c"]
    assert single.target_text == " Paris"
    info = single.extraction
    assert (info.mode, info.solver, info.shared) == ("and_or", "ipm", None)
    assert info.objective == pytest.approx(single.objective, rel=1e-8)
    assert info.gap < 1e-8
    assert single.bound == pytest.approx(0.15)
    shared = InteractionResult.load(DATA / "result-v1-shared.npz")
    info = shared.extraction
    assert info.mode == "shared"
    # version 1 kept the joint certificate under joint_*; it is the record's certificate now
    assert info.objective == pytest.approx(1.056)
    assert info.gap < 1e-9
    assert info.shared == SharedExtraction(model=0, n_models=2, alpha=0.1, pcoef=0.5,
                                           normalize=True, p_bound=1.5)
    assert shared.objective == pytest.approx(2.88)  # the result's own L1 is unchanged


def test_extraction_must_be_a_record():
    with pytest.raises(TypeError, match="ExtractionInfo"):
        InteractionResult(["a"], torch.zeros(2), torch.zeros(2), torch.zeros(2),
                          extraction={"mode": "none"})


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
