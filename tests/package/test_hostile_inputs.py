"""Hostile and careless input across the public surface: every case gets a clear error (the
library's class, a message that names what was given and what to do) before any expensive
work, never a raw error from deep inside torch, numpy or XML, and never a silent wrong answer.

Each case is ``(id, call, error class, phrase)``; ``call`` takes a scratch folder. The cases are
grouped by area; ``test_the_audit_covers_every_area`` keeps the count honest.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections import Counter
from collections.abc import Callable
from functools import cache
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch
from helpers.games import planted_result
from helpers.lm_models import PROMPT, make_tokenizer, tiny_gpt2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import captum_interactions as ci
from captum_interactions import InteractionError, InteractionResult, ResultFormatError
from captum_interactions.adapters import (
    HuggingFaceAdapter,
    LearnedBaseline,
    LLMInteractions,
    load_pretrained,
    select_players,
)
from captum_interactions.adapters.baselines import baseline_vector
from captum_interactions.graphs import (
    and_or_graph,
    overlap,
    overlap_matrix,
    player_graph,
    plot_order_histogram,
    plot_overlap_heatmap,
    plot_top_interactions,
    read_graph,
    write_graph,
)
from captum_interactions.runs import (
    InteractionRun,
    ModelSpec,
    ModelSpecError,
    PromptFileError,
    RunFolderError,
    RunOptions,
    check_device,
    load_run,
    read_prompts,
)
from captum_interactions.subsets import check_n_players, to_labels, to_mask

V8 = torch.linspace(0, 1, 8, dtype=torch.float64)
WORDS = ["capital", "france", "paris", "italy"]


@cache
def result() -> InteractionResult:
    return ci.extract(V8, players=["a", "b", "c"])


@cache
def adapter() -> HuggingFaceAdapter:
    tokenizer = make_tokenizer("word")
    return HuggingFaceAdapter(tiny_gpt2(tokenizer), tokenizer, name="gpt2")


def _linear(x):
    return x @ torch.ones(x.shape[-1], 3)


def _saved(tmp: Path, edit: Callable[[dict], None] | None = None,
           arrays: Callable[[dict], None] | None = None) -> Path:
    """A saved result, its header (and arrays) edited afterwards."""
    path = result().save(tmp / "r.npz")
    with np.load(path) as data:
        content = dict(data)
    header = json.loads(str(content["header"]))
    if edit:
        edit(header)
    if arrays:
        arrays(content)
    content["header"] = np.array(json.dumps(header))
    with path.open("wb") as handle:
        np.savez(handle, **content)
    return path


def _write(tmp: Path, name: str, data: bytes | str) -> Path:
    path = tmp / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _extraction(key, value):
    def edit(header):
        header["extraction"][key] = value
    return edit


def _run(tmp: Path, models=("smollm2-135m",), prompts=None, **options):
    prompts = prompts if prompts is not None else _write(tmp, "p.txt", "The capital of France")
    return InteractionRun(list(models), prompts, tmp / "out", options=RunOptions(**options))


E, T = InteractionError, TypeError
CASES = {
    "transforms": [
        ("list input", lambda t: ci.and_transform([0.0, 1.0]), T, "must be a torch.Tensor"),
        ("scalar", lambda t: ci.and_transform(torch.tensor(1.0)), E, "got a scalar"),
        ("length 6", lambda t: ci.or_transform(torch.zeros(6)), E, "length 2\\*\\*n"),
        ("length 0", lambda t: ci.and_transform(torch.zeros(0)), E, "got length 0"),
        ("NaN", lambda t: ci.and_transform(torch.tensor([0, math.nan])), E, "non-finite"),
        ("inf", lambda t: ci.inverse_or_transform(torch.tensor([0, math.inf])), E,
         "non-finite"),
        ("2**31 masks", lambda t: ci.and_transform(torch.zeros(1).expand(1 << 31)), E,
         "n_players=31 is out of range"),
        ("reconstruct shapes", lambda t: ci.reconstruct(torch.zeros(4), torch.zeros(8)), E,
         "same shape"),
        ("reconstruct devices", lambda t: ci.reconstruct(
            torch.zeros(4), torch.zeros(4, device="meta")), E, "move both to one device"),
        ("inverse list", lambda t: ci.inverse_and_transform((1, 2)), T, "torch.Tensor"),
    ],
    "subsets": [
        ("negative index", lambda t: to_mask([-1]), E, "non-negative ints"),
        ("duplicate index", lambda t: to_mask([1, 1]), E, "appears twice"),
        ("bool index", lambda t: to_mask([True]), E, "non-negative ints"),
        ("label out of range", lambda t: to_labels(8, ["a"]), E, "only 1 players"),
        ("n as str", lambda t: check_n_players("3"), T, "must be an int"),
        ("n negative", lambda t: check_n_players(-1), E, "out of range"),
    ],
    "extract": [
        ("values list", lambda t: ci.extract([0.0] * 4), T, "torch.Tensor"),
        ("values 3-D", lambda t: ci.extract(torch.zeros(2, 2, 4)), E, "flatten"),
        ("empty batch", lambda t: ci.extract(torch.zeros(0, 4)), E, "batch size 0"),
        ("complex", lambda t: ci.extract(torch.zeros(4, dtype=torch.complex64)), E,
         "must be real"),
        ("NaN values", lambda t: ci.extract(torch.tensor([0.0, math.nan, 0, 0])), E,
         "non-finite"),
        ("mode or", lambda t: ci.extract(V8, mode="or"), E, "valid modes: and_or, and, none"),
        ("mode None", lambda t: ci.extract(V8, mode=None), E, "unknown mode None"),
        ("qcoef -1", lambda t: ci.extract(V8, qcoef=-1), E, "qcoef=-1 makes no sense"),
        ("qcoef nan", lambda t: ci.extract(V8, qcoef=math.nan), E, "finite number >= 0"),
        ("qcoef inf", lambda t: ci.extract(V8, qcoef=math.inf), E, "finite number >= 0"),
        ("qcoef str", lambda t: ci.extract(V8, qcoef="0.1"), T, "qcoef must be a number"),
        ("qcoef bool", lambda t: ci.extract(V8, qcoef=True), T, "qcoef must be a number"),
        ("scale name", lambda t: ci.extract(V8, scale="max"), E, "unknown scale 'max'"),
        ("scale -1", lambda t: ci.extract(V8, scale=-1), E, "finite number >= 0"),
        ("scale nan", lambda t: ci.extract(V8, scale=math.nan), E, "finite number >= 0"),
        ("scale list", lambda t: ci.extract(V8, scale=[1]), T, "string or a number"),
        ("solver cplex", lambda t: ci.extract(V8, solver="cplex"), E,
         "valid solvers: auto, ipm, working_set, highs, pdhg, sgd"),
        ("solver None", lambda t: ci.extract(V8, solver=None), T, "solver must be a name"),
        ("players count", lambda t: ci.extract(V8, players=["a"]), E,
         "1 player labels were given"),
        ("players twice", lambda t: ci.extract(V8, players=["a", "a", "b"]), E, "unique"),
        ("players string", lambda t: ci.extract(V8, players="abc"), T, "not one string"),
        ("tol nan", lambda t: ci.extract(V8, solver="ipm", tol=math.nan), E,
         "tol=nan of solver 'ipm' must be a finite number > 0"),
        ("tol -1", lambda t: ci.extract(V8, solver="ipm", tol=-1), E, "tol=-1"),
        ("tol str", lambda t: ci.extract(V8, solver="pdhg", tol="x"), E, "tol='x'"),
        ("max_iter -5", lambda t: ci.extract(V8, solver="ipm", max_iter=-5), E,
         "must be an int > 0"),
        ("max_iter 2.5", lambda t: ci.extract(V8, solver="working_set", max_iter=2.5), E,
         "must be an int > 0"),
        ("max_iter bool", lambda t: ci.extract(V8, solver="ipm", max_iter=True), E,
         "must be an int > 0"),
        ("iterations -5", lambda t: ci.extract(V8, solver="sgd", iterations=-5), E,
         "iterations=-5 of solver 'sgd'"),
        ("momentum 1.5", lambda t: ci.extract(V8, solver="sgd", momentum=1.5), E,
         r"number in \[0, 1\)"),
        ("lr 0", lambda t: ci.extract(V8, solver="sgd", lr=0), E, "lr=0"),
        ("method nope", lambda t: ci.extract(V8, solver="highs", method="nope"), E,
         "one of 'highs-ipm'"),
        ("highs options str", lambda t: ci.extract(V8, solver="highs", options="x"), E,
         "must be a dict"),
        ("margin 0.7", lambda t: ci.extract(V8, solver="working_set", margin=0.7), E,
         r"\[0, 0.5\)"),
        ("grow 0", lambda t: ci.extract(V8, solver="working_set", grow=0), E, "grow=0"),
        ("check_every 0", lambda t: ci.extract(V8, solver="pdhg", check_every=0), E,
         "check_every=0"),
        ("unknown option", lambda t: ci.extract(V8, solver="ipm", foo=1), E,
         "unknown option 'foo' for solver 'ipm'"),
        ("auto with a foreign option", lambda t: ci.extract(V8, lr=0.1), E,
         "unknown option 'lr'"),
        ("options without a solver", lambda t: ci.extract(V8, mode="none", tol=1e-3), E,
         "needs no solver"),
        ("ipm too large", lambda t: ci.extract(torch.zeros(1 << 13), solver="ipm"), E,
         "at most n=12"),
        ("sgd and mode", lambda t: ci.extract(V8, mode="and", solver="sgd"), E,
         "does not solve one model in mode 'and'"),
        ("subtract_v0 str", lambda t: ci.extract(V8, subtract_v0="yes"), T,
         "subtract_v0 must be True or False"),
        ("show_progress str", lambda t: ci.extract(V8, show_progress="yes"), T,
         "show_progress must be True or False"),
    ],
    "extract_shared": [
        ("a tensor", lambda t: ci.extract_shared(torch.zeros(2, 8)), T, "list of M tensors"),
        ("one model", lambda t: ci.extract_shared([V8]), E, "at least 2 models"),
        ("shapes", lambda t: ci.extract_shared([V8, torch.zeros(4)]), E, "same samples"),
        ("alpha 2", lambda t: ci.extract_shared([V8, V8], alpha=2), E, r"alpha must be in"),
        ("alpha nan", lambda t: ci.extract_shared([V8, V8], alpha=math.nan), E, "alpha"),
        ("alpha str", lambda t: ci.extract_shared([V8, V8], alpha="x"), T,
         "alpha must be a number"),
        ("pcoef -1", lambda t: ci.extract_shared([V8, V8], pcoef=-1), E, "pcoef=-1"),
        ("pcoef nan", lambda t: ci.extract_shared([V8, V8], pcoef=math.nan), E, "pcoef=nan"),
        ("qcoef -1", lambda t: ci.extract_shared([V8, V8], qcoef=-1), E, "qcoef=-1"),
        ("working_set", lambda t: ci.extract_shared([V8, V8], solver="working_set"), E,
         "does not solve joint extraction of 2 models"),
        ("ipm 5 models", lambda t: ci.extract_shared([V8] * 5, solver="ipm"), E,
         "at most 4 models"),
        ("ipm too large", lambda t: ci.extract_shared([torch.zeros(1 << 13)] * 2,
                                                     solver="ipm"), E, "M=2, n=13"),
        ("grow for joint", lambda t: ci.extract_shared([V8, V8], solver="ipm", grow=2.0), E,
         "unknown option 'grow'"),
        ("normalize str", lambda t: ci.extract_shared([V8, V8], normalize="yes"), T,
         "normalize must be True or False"),
        ("values NaN", lambda t: ci.extract_shared([V8, V8 * math.nan]), E,
         r"values_per_model\[1\] contains 8 non-finite"),
    ],
    "result": [
        ("labels count", lambda t: InteractionResult(["a"], V8, V8, V8), E,
         "1 player labels were given"),
        ("labels twice", lambda t: InteractionResult(["a", "a", "b"], V8, V8, V8), E, "unique"),
        ("labels string", lambda t: InteractionResult("abc", V8, V8, V8), T, "not one string"),
        ("shape mismatch", lambda t: InteractionResult(["a", "b", "c"], V8, V8, V8[:4]), E,
         "or_interactions has shape"),
        ("2-D values", lambda t: InteractionResult(["a", "b", "c"], V8.repeat(2, 1),
                                                   V8.repeat(2, 1), V8.repeat(2, 1)), E,
         "must be 1-D"),
        ("negative bound", lambda t: InteractionResult(["a", "b", "c"], V8, V8, V8, bound=-1),
         E, "bound must be >= 0"),
        ("nan bound", lambda t: InteractionResult(["a", "b", "c"], V8, V8, V8,
                                                  bound=math.nan), E, "bound must be"),
        ("extraction dict", lambda t: InteractionResult(["a", "b", "c"], V8, V8, V8,
                                                        extraction={}), T, "ExtractionInfo"),
        ("tau 2", lambda t: result().salient(2.0), E, r"tau must be in \[0, 1\]"),
        ("tau nan", lambda t: result().salient(math.nan), E, "tau must be in"),
        ("tau str", lambda t: result().salient("x"), T, "tau must be a number"),
        ("absolute -1", lambda t: result().salient(absolute=-1), E, "absolute threshold"),
        ("top_k -1", lambda t: result().salient(top_k=-1), E, "top_k must be >= 0"),
        ("top_k 1.5", lambda t: result().salient(top_k=1.5), T, "top_k must be an int"),
        ("top_fraction 0", lambda t: result().salient(top_fraction=0), E, "top_fraction"),
        ("first order shapes", lambda t: ci.shapley_values(V8, V8[:4]), E,
         "or_interactions has shape"),
        ("save non-JSON", lambda t: InteractionResult(["a", "b", "c"], V8, V8, V8,
                                                      metadata={"x": object()}).save(t / "x"),
         E, "JSON-serialisable"),
    ],
    "loading": [
        ("missing file", lambda t: InteractionResult.load(t / "none.npz"), FileNotFoundError,
         "none.npz"),
        ("empty file", lambda t: InteractionResult.load(_write(t, "e.npz", b"")),
         ResultFormatError, "e.npz is not a readable"),
        ("random bytes", lambda t: InteractionResult.load(_write(t, "r.npz", b"\x00" * 64)),
         ResultFormatError, "not a readable"),
        ("truncated", lambda t: InteractionResult.load(_write(
            t, "t.npz", result().save(t / "full.npz").read_bytes()[:200])),
         ResultFormatError, "not a readable"),
        ("zip without header", lambda t: InteractionResult.load(_zip(t)), ResultFormatError,
         "not a readable"),
        ("header list", lambda t: InteractionResult.load(_header(t, [])), ResultFormatError,
         "header is not a JSON object"),
        ("wrong format", lambda t: InteractionResult.load(_saved(
            t, lambda h: h.update(format="other"))), ResultFormatError,
         "not a captum-interactions result file"),
        ("future version", lambda t: InteractionResult.load(_saved(
            t, lambda h: h.update(format_version=99))), ResultFormatError, "version 99"),
        ("players int", lambda t: InteractionResult.load(_saved(
            t, lambda h: h.update(players=3))), ResultFormatError,
         "field 'players' is 3 .*list of strings"),
        ("bound str", lambda t: InteractionResult.load(_saved(
            t, lambda h: h.update(bound="0.1"))), ResultFormatError, "field 'bound'"),
        ("target float", lambda t: InteractionResult.load(_saved(
            t, lambda h: h.update(target=1.5))), ResultFormatError, "field 'target'"),
        ("metadata list", lambda t: InteractionResult.load(_saved(
            t, lambda h: h.update(metadata=[]))), ResultFormatError, "field 'metadata'"),
        ("unknown field", lambda t: InteractionResult.load(_saved(
            t, lambda h: h.update(colour="red"))), ResultFormatError, r"unknown field\(s\)"),
        ("missing field", lambda t: InteractionResult.load(_saved(
            t, lambda h: h.pop("version"))), ResultFormatError, r"missing field\(s\)"),
        ("extraction solver int", lambda t: InteractionResult.load(_saved(
            t, _extraction("solver", 3))), ResultFormatError, "extraction: field 'solver'"),
        ("extraction gap str", lambda t: InteractionResult.load(_saved(
            t, _extraction("gap", "small"))), ResultFormatError, "field 'gap'"),
        ("shared wrong", lambda t: InteractionResult.load(_saved(
            t, _extraction("shared", {"model": 0}))), ResultFormatError, "extraction.shared"),
        ("bool array", lambda t: InteractionResult.load(_saved(
            t, arrays=lambda a: a.update(values=np.zeros(8, dtype=bool)))), ResultFormatError,
         "array 'values' holds torch.bool"),
        ("short array", lambda t: InteractionResult.load(_saved(
            t, arrays=lambda a: a.update(q=np.zeros(4)))), ResultFormatError,
         "inconsistent .*q has shape"),
        ("string array", lambda t: InteractionResult.load(_saved(
            t, arrays=lambda a: a.update(p=np.array(["a"] * 8)))), ResultFormatError,
         "not a readable"),
        ("baseline damaged", lambda t: LearnedBaseline.load(_write(t, "b.npz", b"PK")),
         ResultFormatError, "not a readable learned baseline"),
        ("baseline is a result", lambda t: LearnedBaseline.load(result().save(t / "r.npz")),
         ResultFormatError, "not a learned baseline file"),
    ],
    "attribution": [
        ("inputs list", lambda t: ci.AndOrInteractions(_linear).attribute([1.0]), T,
         "inputs must be a torch.Tensor"),
        ("scalar input", lambda t: ci.AndOrInteractions(_linear).attribute(torch.tensor(1.0)),
         E, "batch dimension"),
        ("forward returns None", lambda t: ci.AndOrInteractions(lambda x: None).attribute(
            torch.ones(1, 3), target=0), E, "returned None"),
        ("forward returns a tuple", lambda t: ci.AndOrInteractions(
            lambda x: (_linear(x), x)).attribute(torch.ones(1, 3), target=0), E,
         r"tuple of 2 items; return the one tensor"),
        ("forward returns a dict", lambda t: ci.AndOrInteractions(
            lambda x: {"logits": _linear(x)}).attribute(torch.ones(1, 3), target=0), E,
         "ModelOutput"),
        ("forward returns text", lambda t: ci.AndOrInteractions(lambda x: "no").attribute(
            torch.ones(1, 3), value="raw"), E, "does not convert"),
        ("forward aggregates", lambda t: ci.AndOrInteractions(lambda x: x.sum()[None]).attribute(
            torch.ones(2, 3), value="raw"), E, "first dimension must be the batch"),
        ("perturbations 0", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), perturbations_per_eval=0), E, "at least 1"),
        ("perturbations 2.5", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), perturbations_per_eval=2.5), T, "must be an int"),
        ("max_players 0", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), max_players=0), E, r"max_players must be in 1..30"),
        ("max_players str", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), max_players="5"), T, "max_players must be an int"),
        ("feature_mask float", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), feature_mask=torch.zeros(1, 3)), T, "integer player ids"),
        ("feature_mask shape", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), feature_mask=torch.zeros(1, 4, dtype=torch.long)), E,
         "does not broadcast"),
        ("feature_mask id -2", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), feature_mask=torch.tensor([[0, -2, 1]])), E, "contains id -2"),
        ("feature_mask gap", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), feature_mask=torch.tensor([[0, 2, 2]])), E,
         r"id\(s\) \[1\] do not occur"),
        ("all background", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), feature_mask=torch.full((1, 3), -1)), E, "no players to explain"),
        ("baselines count", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), baselines=(0, 0)), E, "baselines has 2 entries"),
        ("baseline string", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), baselines="zero"), T, "must be a number or a tensor"),
        ("fractional baseline", lambda t: ci.AndOrInteractions(lambda x: x.float()).attribute(
            torch.ones(1, 2, dtype=torch.long), baselines=0.5, value="raw", target=0), E,
         "fractional"),
        ("target out of range", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), target=5), E, "out of range"),
        ("target float", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), target=1.5), T, "target must be"),
        ("target list length", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(2, 3), target=[0]), E, "1 entries but inputs have 2"),
        ("value unknown", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), value="logit"), E, "value must be one of"),
        ("output unknown", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), output="softmax"), E, "output must be one of"),
        ("eps without probs", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), eps=1e-6), E, "needs output='probs'"),
        ("probs out of range", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), output="probs", target=0), E, r"outside \[0, 1\]"),
        ("players count", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 3), players=["a"]), E, "1 player labels were given"),
        ("solver options first", lambda t: ci.AndOrInteractions(lambda x: 1 / 0).attribute(
            torch.ones(1, 3), solver="ipm", tol=-1), E, "tol=-1"),
        ("too many players", lambda t: ci.AndOrInteractions(_linear).attribute(
            torch.ones(1, 25)), E, "25 players need 2\\*\\*25"),
    ],
    "adapters": [
        ("not a model", lambda t: HuggingFaceAdapter(object(), make_tokenizer("word")), T,
         "needs a transformers causal LM"),
        ("not an adapter", lambda t: LLMInteractions(object()), T,
         "needs a LanguageModelAdapter"),
        ("max_players 0", lambda t: LLMInteractions(adapter(), max_players=0), E,
         r"max_players must be in 1..30"),
        ("chunk_size 0", lambda t: HuggingFaceAdapter(
            tiny_gpt2(make_tokenizer("word")), make_tokenizer("word"), chunk_size=0), E,
         "chunk_size must be a positive int"),
        ("chunk_size 2.5", lambda t: HuggingFaceAdapter(
            tiny_gpt2(make_tokenizer("word")), make_tokenizer("word"), chunk_size=2.5), E,
         "chunk_size must be a positive int"),
        ("tokenize bytes", lambda t: adapter().tokenize(b"the cat"), T, "text must be a str"),
        ("empty prompt", lambda t: adapter().tokenize(""), E, "no tokens"),
        ("foreign tokenizer", lambda t: HuggingFaceAdapter(
            tiny_gpt2(make_tokenizer("word")), make_tokenizer("bpe")).tokenize(PROMPT), E,
         "does not belong to this model"),
        ("context", lambda t: LLMInteractions(adapter()).attribute(" ".join([PROMPT] * 8),
                                                                    players=WORDS), E,
         "more than the model's context"),
        ("player absent", lambda t: LLMInteractions(adapter()).attribute(
            PROMPT, players=["rome"]), E, "does not occur as a whole word"),
        ("player string", lambda t: LLMInteractions(adapter()).attribute(
            PROMPT, players="capital"), T, "Wrap a single player in a list"),
        ("players empty", lambda t: LLMInteractions(adapter()).attribute(PROMPT, players=[]),
         E, "players is empty"),
        ("players overlap", lambda t: select_players("the cat", [(0, 5), (2, 7)]), E,
         "overlap"),
        ("span outside", lambda t: select_players("the cat", [(0, 50)]), E,
         "not inside the prompt"),
        ("n_players 0", lambda t: LLMInteractions(adapter()).attribute(PROMPT, n_players=0), E,
         "n_players must be at least 1"),
        ("n_players str", lambda t: LLMInteractions(adapter()).attribute(PROMPT,
                                                                           n_players="3"), T,
         "n_players must be an int"),
        ("no content words", lambda t: LLMInteractions(adapter()).attribute("it is the"), E,
         "no content words"),
        ("target id", lambda t: LLMInteractions(adapter()).attribute(
            PROMPT, players=WORDS, target=10**6), E, "outside the model's vocabulary"),
        ("target blank", lambda t: LLMInteractions(adapter()).attribute(
            PROMPT, players=WORDS, target="  "), E, "must contain text"),
        ("target float", lambda t: LLMInteractions(adapter()).attribute(
            PROMPT, players=WORDS, target=1.5), T, "target must be None"),
        ("baseline name", lambda t: LLMInteractions(adapter()).attribute(
            PROMPT, players=WORDS, baseline="nothing"), E, "neither a named baseline"),
        ("baseline shape", lambda t: adapter().baseline_vector(torch.zeros(3)), E,
         r"shape \[32\] \(d_model\); got dtype torch.float32 and shape \[3\]"),
        ("baseline NaN", lambda t: adapter().baseline_vector(torch.full((32,), math.nan)), E,
         "NaN or infinite"),
        ("baseline token", lambda t: baseline_vector(
            99, embed=lambda i: torch.zeros(len(i), 2), tokenizer=None, vocab_size=5,
            d_model=2), E, "outside the model's vocabulary"),
        ("value unknown", lambda t: LLMInteractions(adapter()).attribute(
            PROMPT, players=WORDS, value="logit"), E, "unknown value 'logit'; valid values: auto"),
        ("extract option", lambda t: LLMInteractions(adapter()).attribute(
            PROMPT, players=WORDS, solver="ipm", tol=0), E, "tol=0"),
        ("positions overlap", lambda t: adapter().evaluate(
            adapter().tokenize(PROMPT), [[0], [0, 1]], torch.arange(4), target=1,
            baseline="pad"), E, "players must be disjoint"),
        ("masks range", lambda t: adapter().evaluate(
            adapter().tokenize(PROMPT), [[0], [1]], torch.tensor([9]), target=1,
            baseline="pad"), E, r"masks must lie in \[0, 2\*\*2\)"),
        ("unknown pretrained", lambda t: load_pretrained("gpt-5"), E,
         "unknown pretrained model 'gpt-5'"),
        ("pretrained on missing CUDA", lambda t: load_pretrained(
            "smollm2-135m", device="cuda:7"), E, "CUDA|does not exist"),
        ("pretrained on a bad device", lambda t: load_pretrained(
            "smollm2-135m", device="tpu9"), E, "unknown device 'tpu9'"),
    ],
    "graphs": [
        ("graph of a tensor", lambda t: and_or_graph(V8), T, "expected an InteractionResult"),
        ("attribution lime", lambda t: player_graph(result(), attribution="lime"), E,
         "unknown attribution 'lime'"),
        ("suffix", lambda t: write_graph(nx.Graph(), t / "g.xml"), E,
         "cannot tell the graph format"),
        ("format", lambda t: write_graph(nx.Graph(), t / "g.graphml", format="gml"), E,
         "unknown graph format 'gml'"),
        ("multigraph", lambda t: write_graph(nx.MultiGraph(), t / "g.graphml"), E,
         "multigraph"),
        ("int node", lambda t: write_graph(nx.path_graph(2), t / "g.graphml"), E,
         "node id 0 is a int"),
        ("list attribute", lambda t: write_graph(nx.Graph(x=[1]), t / "g.graphml"), E,
         "attribute 'x' of graph is a list"),
        ("reserved attribute", lambda t: write_graph(_graph_with(id="x"), t / "g.json"), E,
         "clashes with a field"),
        ("read garbage graphml", lambda t: read_graph(_write(t, "g.graphml", "<not xml")),
         ResultFormatError, "g.graphml is not a readable graphml"),
        ("read garbage json", lambda t: read_graph(_write(t, "g.json", "{nope")),
         ResultFormatError, "g.json is not a readable node_link"),
        ("read missing", lambda t: read_graph(t / "none.graphml"), FileNotFoundError, "none"),
        ("overlap non-result", lambda t: overlap(result(), V8), T,
         "result_b is a Tensor"),
        ("overlap players", lambda t: overlap(result(), planted_result(
            {1: 1.0}, players=["x", "y", "z"])), E, "different players"),
        ("overlap n", lambda t: overlap(result(), planted_result({1: 1.0}, n=4)), E,
         "result_b has 4"),
        ("n_top 0", lambda t: overlap(result(), result(), n_top=0), E, "n_top"),
        ("n_chance 1.5", lambda t: overlap(result(), result(), n_chance=1.5), E,
         "n_chance must be an int >= 0"),
        ("seed str", lambda t: overlap(result(), result(), seed="x"), T,
         "seed must be an int"),
        ("overlap NaN", lambda t: overlap(result(), _nan_result()), E, "non-finite"),
        ("matrix of one", lambda t: overlap_matrix({"a": [result()]}), E, "at least two"),
        ("matrix not a table", lambda t: overlap_matrix(result()), T,
         "results must be a mapping"),
        ("matrix lengths", lambda t: overlap_matrix({"a": [result()], "b": [result()] * 2}),
         E, "one result per sample"),
        ("confidence 1", lambda t: overlap_matrix({"a": [result()], "b": [result()]},
                                                  confidence=1.0), E, "confidence"),
        ("bootstrap -1", lambda t: overlap_matrix({"a": [result()], "b": [result()]},
                                                  n_bootstrap=-1), E, "n_bootstrap"),
        ("heatmap input", lambda t: plot_overlap_heatmap(result()), T,
         "takes the result of overlap_matrix"),
        ("heatmap metric", lambda t: plot_overlap_heatmap(
            overlap_matrix({"a": [result()], "b": [result()]}, n_bootstrap=0), "nope"), E,
         "'nope' is not a metric of this overlap matrix"),
        ("histogram input", lambda t: plot_order_histogram(V8), T, "takes the result of"),
        ("histogram pair", lambda t: plot_order_histogram(
            overlap_matrix({"a": [result()], "b": [result()]}, n_bootstrap=0),
            pair=("a", "zz")), E, "names a model that is not in the matrix"),
        ("top n_top 0", lambda t: plot_top_interactions(result(), n_top=0), E,
         "n_top must be a positive int"),
        ("top input", lambda t: plot_top_interactions([result()]), T,
         "an InteractionResult or a mapping"),
    ],
    "runs": [
        ("n_players 0", lambda t: RunOptions(n_players=0), E, "1 <= n_players <= 20"),
        ("n_players 21", lambda t: RunOptions(n_players=21), E, "1 <= n_players <= 20"),
        ("n_players 2.5", lambda t: RunOptions(n_players=2.5), T, "n_players must be an int"),
        ("dtype", lambda t: RunOptions(dtype="float8"), E, "dtype 'float8'"),
        ("qcoef", lambda t: RunOptions(qcoef=-1), E, "qcoef=-1"),
        ("alpha", lambda t: RunOptions(alpha=2), E, r"alpha must be in \[0, 1\]"),
        ("tau", lambda t: RunOptions(tau=math.nan), E, "tau must be in"),
        ("pcoef", lambda t: RunOptions(pcoef=-1), E, "pcoef must be >= 0"),
        ("seed", lambda t: RunOptions(seed="x"), T, "seed must be an int"),
        ("mode", lambda t: RunOptions(mode="or"), E, "valid modes"),
        ("solver", lambda t: RunOptions(solver="cplex"), E, "unknown solver 'cplex'"),
        ("shared working_set", lambda t: RunOptions(shared=True, solver="working_set"), E,
         "does not solve joint extraction"),
        ("model unknown", lambda t: ModelSpec.parse("gpt-17"), ModelSpecError,
         "unknown model 'gpt-17'"),
        ("model empty", lambda t: ModelSpec.parse("label="), ModelSpecError,
         "empty model specification"),
        ("model folder", lambda t: ModelSpec.parse(str(_folder(t))), ModelSpecError,
         "has no config.json"),
        ("factory file", lambda t: ModelSpec.parse("nowhere.py:build"), ModelSpecError,
         "does not exist"),
        ("factory module", lambda t: ModelSpec.parse("no_such_module_xyz:build"),
         ModelSpecError, "cannot import the factory module"),
        ("factory function", lambda t: ModelSpec.parse("math:nothing"), ModelSpecError,
         "has no function 'nothing'"),
        ("prompts missing", lambda t: read_prompts(t / "none.txt"), PromptFileError,
         "does not exist"),
        ("prompts folder", lambda t: read_prompts(t), PromptFileError, "is a folder"),
        ("prompts not UTF-8", lambda t: read_prompts(_write(t, "p.txt", b"\xff\xfe\x00")),
         PromptFileError, "not UTF-8"),
        ("prompts empty", lambda t: read_prompts(_write(t, "p.txt", "\n# only a comment\n")),
         PromptFileError, "no prompts found"),
        ("prompt bad JSON", lambda t: read_prompts(_write(t, "p.jsonl", "{nope\n")),
         PromptFileError, "p.jsonl:1: not valid JSON"),
        ("prompt unknown key", lambda t: read_prompts(_write(
            t, "p.jsonl", '{"prompt": "a b", "colour": 1}\n')), PromptFileError,
         r"unknown key\(s\) \['colour'\]"),
        ("prompt empty text", lambda t: read_prompts(_write(t, "p.jsonl", '{"prompt": ""}\n')),
         PromptFileError, "non-empty string"),
        ("prompt players", lambda t: read_prompts(_write(
            t, "p.jsonl", '{"prompt": "a cat", "players": ["dog"]}\n')), PromptFileError,
         "'dog' does not occur"),
        ("prompt ids twice", lambda t: read_prompts(_write(
            t, "p.jsonl", '{"prompt": "a", "id": "x"}\n{"prompt": "b", "id": "x"}\n')),
         PromptFileError, "already used"),
        ("prompt id unsafe", lambda t: read_prompts(_write(
            t, "p.jsonl", '{"prompt": "a", "id": "../x"}\n')), PromptFileError,
         "it names files"),
        ("prompt NaN", lambda t: read_prompts(_write(
            t, "p.jsonl", '{"prompt": "a", "meta": {"x": NaN}}\n')), PromptFileError,
         "NaN is not strict JSON"),
        ("run without models", lambda t: _run(t, models=()), E, "at least one model"),
        ("run labels twice", lambda t: _run(t, models=("a=smollm2-135m", "a=gemma-3-270m")),
         E, "used twice"),
        ("run without prompts", lambda t: _run(t, prompts=[]), E, "at least one prompt"),
        ("run folder is a file", lambda t: InteractionRun(
            ["smollm2-135m"], _write(t, "p.txt", "The capital of France"),
            _write(t, "file", "x"), options=RunOptions()), RunFolderError, "is a file"),
        ("run foreign folder", lambda t: InteractionRun(
            ["smollm2-135m"], _write(t, "p.txt", "The capital of France"), _folder(t),
            options=RunOptions()), RunFolderError, "not a captum-interactions run"),
        ("run shared ipm many", lambda t: _run(
            t, models=[f"m{i}=smollm2-135m" for i in range(5)], shared=True, solver="ipm"), E,
         "at most 4 models"),
        ("device", lambda t: check_device("tpu9"), E, "unknown device 'tpu9'"),
        ("device index", lambda t: check_device(3.5), E, "unknown device 3.5"),
        ("load_run missing", lambda t: load_run(t / "none"), RunFolderError,
         "holds no manifest.json"),
        ("load_run damaged", lambda t: load_run(_damaged_run(t)), RunFolderError,
         "run the run's command again"),
    ],
}


def _zip(tmp: Path) -> Path:
    path = tmp / "z.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("values.npy", b"")
    return path


def _header(tmp: Path, header) -> Path:
    path = tmp / "h.npz"
    with path.open("wb") as handle:
        np.savez(handle, header=np.array(json.dumps(header)), values=np.zeros(8))
    return path


def _graph_with(**attributes) -> nx.Graph:
    graph = nx.Graph()
    graph.add_node("n", **attributes)
    return graph


def _nan_result() -> InteractionResult:
    broken = ci.extract(V8, players=["a", "b", "c"])
    broken.and_interactions[3] = math.nan
    return broken


def _folder(tmp: Path) -> Path:
    folder = tmp / "folder"
    folder.mkdir(exist_ok=True)
    (folder / "notes.txt").write_text("mine")
    return folder


def _damaged_run(tmp: Path) -> Path:
    folder = tmp / "run"
    folder.mkdir()
    (folder / "manifest.json").write_text("{")
    return folder


PARAMS = [pytest.param(call, error, phrase, id=f"{area}: {name}")
          for area, cases in CASES.items() for name, call, error, phrase in cases]


@pytest.mark.parametrize(("call", "error", "phrase"), PARAMS)
def test_hostile_input_gets_a_clear_error(call, error, phrase, tmp_path):
    with pytest.raises(error, match=phrase):
        call(tmp_path)


def test_the_audit_covers_every_area():
    counts = Counter({area: len(cases) for area, cases in CASES.items()})
    assert sum(counts.values()) >= 150, counts
    assert min(counts.values()) >= 6, counts


# ----------------------------------------------------------------- loaders under fuzzing
@cache
def _saved_bytes() -> bytes:
    import tempfile

    folder = Path(tempfile.mkdtemp())
    return result().save(folder / "r.npz").read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1,
                max_size=8),
       st.integers(0, 10_000))
def test_a_damaged_result_file_loads_or_raises_the_format_error(tmp_path_factory, flips, cut):
    data = bytearray(_saved_bytes())
    for position, byte in flips:
        data[position % len(data)] = byte
    path = tmp_path_factory.mktemp("fuzz") / "r.npz"
    path.write_bytes(bytes(data[: max(1, len(data) - cut)]))
    try:
        loaded = InteractionResult.load(path)
    except ResultFormatError:
        return
    assert loaded.players  # a damage the zip format tolerates (e.g. a comment byte) is fine


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["players", "bound", "target", "target_text",
                                        "extraction", "metadata", "version", "colour"]),
                       st.one_of(st.none(), st.integers(), st.floats(allow_nan=False),
                                 st.text(max_size=5), st.lists(st.text(max_size=3)),
                                 st.dictionaries(st.text(max_size=3), st.integers())),
                       min_size=1, max_size=3))
def test_a_tampered_header_loads_or_raises_the_format_error(tmp_path_factory, changes):
    tmp = tmp_path_factory.mktemp("fuzz")
    try:
        loaded = InteractionResult.load(_saved(tmp, lambda header: header.update(changes)))
    except ResultFormatError:
        return
    assert isinstance(loaded.players, list)  # a valid header: it loaded as written


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=12), st.text(max_size=12))
def test_graph_files_keep_any_string(tmp_path_factory, label, value):
    graph = nx.DiGraph(note=value)
    graph.add_node(label or "n", label=value)
    graph.add_edge(label or "n", "out", kind=label)
    folder = tmp_path_factory.mktemp("graphs")
    for name in ("g.graphml", "g.json"):
        back = read_graph(write_graph(graph, folder / name))
        assert nx.utils.graphs_equal(graph, back)
        assert back.graph == graph.graph
        assert dict(back.nodes(data=True)) == dict(graph.nodes(data=True))
