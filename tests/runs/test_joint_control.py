"""The mismatched-pair control of shared extraction against pair-by-pair overlaps."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers.games import random_result

from captum_interactions.graphs import overlap
from captum_interactions.runs.joint_control import joint_fit_gain, partners


def test_partners_cycle_so_that_no_two_models_share_a_prompt():
    chosen = partners(["a", "b", "c", "d"], 3)
    assert chosen["c"] == ["c", "d", "a"]
    assert all(len(set(prompts)) == 3 for prompts in chosen.values())
    assert partners(["a", "b"], 3) == {}  # too few prompts for three models


def test_the_gain_on_mismatched_pairs_is_joint_minus_independent_of_a_on_i_with_b_on_j():
    generator = torch.Generator().manual_seed(4)
    prompts, models = ["p0", "p1", "p2", "p3"], ["A", "B"]

    def result(prompt):
        return random_result(4, seed=generator, density=0.5,
                             players=[f"{prompt}w{k}" for k in range(4)], target_text=" x")

    independent = {(m, p): result(p) for m in models for p in prompts}
    shared = {(m, p): result(p) for m in models for p in prompts}
    mismatched = {(m, p): result(p) for m in models for p in prompts}
    rows = joint_fit_gain(independent, shared, mismatched, models=models, prompts=prompts,
                          n_bootstrap=200)
    assert {row["metric"] for row in rows} == {"jaccard", "jaccard_any_sign",
                                               "weighted_overlap"}

    def relabel(r, like):
        return dataclasses.replace(r, players=list(like.players))

    for row in rows:
        name = row["metric"]
        matched = [overlap(shared["A", p], relabel(shared["B", p], shared["A", p]),
                           n_chance=0)[name]
                   - overlap(independent["A", p], relabel(independent["B", p],
                                                          independent["A", p]), n_chance=0)[name]
                   for p in prompts]
        crossed = [overlap(mismatched["A", p], relabel(mismatched["B", p], mismatched["A", p]),
                           n_chance=0)[name]
                   - overlap(independent["A", p], relabel(independent["B", q],
                                                          independent["A", p]), n_chance=0)[name]
                   for p, q in zip(prompts, prompts[1:] + prompts[:1], strict=True)]
        assert row["gain_matched"] == pytest.approx(np.nanmean(matched))
        assert row["gain_mismatched"] == pytest.approx(np.nanmean(crossed))
        assert row["ratio"] == pytest.approx(np.nanmean(crossed) / np.nanmean(matched))
        assert row["gain_matched_ci_low"] <= row["gain_matched"] <= row["gain_matched_ci_high"]
        assert row["n_prompts"] == 4
    assert joint_fit_gain(independent, shared, {}, models=models, prompts=prompts) == []
