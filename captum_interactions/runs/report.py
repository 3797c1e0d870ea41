"""The report of a run folder: ``report.md`` with PNG figures in ``figures/``.

:func:`write_report` reads a run folder (see :mod:`.folder`) and writes:

- the run's models, prompts and options;
- across models (two or more): overlap of the salient interactions per model pair, with
  bootstrap intervals over prompts and chance levels, as a table and heat-maps, the orders
  of shared vs non-shared interactions, and their positive-negative cancellation, for
  independent and (when run) shared extraction;
- per prompt: the players, what each model explains, the strongest interactions of each model
  side by side (table and bar chart), each model's AND-OR graph, and the pair overlaps or
  why a pair was skipped.

Figures are drawn on ``matplotlib.figure.Figure`` objects (no pyplot, no GUI backend).

>>> write_report("no/such/run")
Traceback (most recent call last):
...
captum_interactions.runs.folder.RunFolderError: no/such/run holds no manifest.json; ...
"""

from __future__ import annotations

import csv
import math
import os
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

from captum_interactions._files import atomic_path
from captum_interactions._optional import require
from captum_interactions._version import __version__
from captum_interactions.graphs import (
    SHARED_DEFINITIONS,
    OverlapMatrix,
    and_or_graph,
    draw_and_or_graph,
    plot_cancellation,
    plot_order_histogram,
    plot_overlap_heatmap,
    plot_overlap_pairs,
    plot_top_interactions,
)
from captum_interactions.result import Interaction

from .analysis import compare_models, tau_sweep
from .folder import RunData, load_run
from .scoring import capability_findings
from .store import write_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["write_report"]

#: Interactions listed and drawn per model and prompt.
TOP = 8
#: Interactions drawn in an AND-OR graph.
GRAPH_TERMS = 20
#: Up to this many models the overlap figure shows every pair with its interval and chance
#: level; beyond, heat-maps.
PAIR_VIEW_MODELS = 3

_SHARED_NOTE = (
    "Shared extraction learns the AND-OR split of all agreeing models jointly, which biases "
    "it toward sharing. Judge whether models share interactions on the independent "
    "extraction; read the shared rows as the view that the joint fit allows."
)


def _blank() -> Figure:
    """An empty figure (no pyplot) that a plotting function sizes to fit."""
    require("matplotlib", purpose="the report's figures")
    from matplotlib.figure import Figure

    return Figure()


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list]:
    figure = _blank()
    figure.set_size_inches(width, height)
    figure.set_layout_engine("constrained")
    return figure, list(figure.subplots(1, ncols, squeeze=False)[0])


def _save(figure: Figure, path: Path) -> str:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    return path.name


# ------------------------------------------------------------------------------ text parts
def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _interval(matrix: OverlapMatrix, metric: str, i: int, j: int) -> str:
    mean = float(matrix.mean[metric][i, j])
    low, high = float(matrix.ci_low[metric][i, j]), float(matrix.ci_high[metric][i, j])
    if math.isfinite(low) and math.isfinite(high) and int(matrix.n_samples[i, j]) > 1:
        return f"{_num(mean)} [{_num(low, 2)}, {_num(high, 2)}]"
    return _num(mean)


def _term(term: Interaction) -> str:
    joiner = " & " if term.type == "and" else " \\| "
    return f"{term.type.upper()}({joiner.join(term.players)}) {term.value:+.3f}"


def _cell(text: str) -> str:
    """Text for a Markdown table cell (its pipes escaped)."""
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _header(data: RunData) -> list[str]:
    o = data.options
    items = data.manifest.get("items", {})
    working = {item.get("session") for item in items.values()}  # sessions that computed
    sessions = [s for s in data.manifest.get("sessions", []) if s.get("session") in working]
    devices = sorted({s.get("device", "?") for s in sessions})
    lines = [
        "# Interaction report",
        "",
        f"{len(data.models)} model(s) × {len(data.prompts)} prompt(s); up to {o.n_players} word "
        f"players per prompt; baseline {_code(o.baseline)}; extraction {_code(o.mode)} with "
        f"qcoef {o.qcoef} and solver {_code(o.solver)}; salience τ = {o.tau}"
        f"{' with single words merged (OR{i} into AND{i})' if o.merge_singletons else ''}; "
        f"seed {o.seed}; "
        f"dtype {o.dtype}. Computed by captum-interactions {__version__} in "
        f"{len(sessions)} session(s) on {', '.join(devices) or '?'} (sessions that computed "
        "results; the metrics are defined at the end).",
        *([] if "reanalysis_of" not in data.manifest else [
            "", f"A re-analysis of the run in {_code(data.manifest['reanalysis_of'])}: its "
            "saved values, extracted and compared again with the options above (no model "
            "ran)."]),
        "",
        "| model | source | results | compute time (s) |",
        "|---|---|---|---|",
    ]
    for label, source in data.models.items():
        done = sum((label, p.id) in data.results for p in data.prompts)
        seconds = sum(v.get("seconds", 0.0) for k, v in items.items()
                      if k.split("/")[0] == label)
        lines.append(f"| {label} | {_code(source)} | {done}/{len(data.prompts)} | "
                     f"{seconds:.1f} |")
    missing = len(data.prompts) - len(data.complete_prompts())
    if missing:
        lines += ["", f"**{missing} prompt(s) are not finished for every model**; run the same "
                  "command again to complete them."]
    return lines + _screening(data)


def _screening(data: RunData) -> list[str]:
    """What screening did: the prompts skipped before any masked evaluation, with each
    model's next word, and what the others explain."""
    if "screened_out" not in data.manifest:
        return []
    skipped = data.manifest["screened_out"]
    record = data.manifest.get("screen", {})
    screened = sum(prompt.id in record for prompt in data.prompts) + len(skipped)
    lines = ["", f"**Screening.** Before any masked evaluation each model's greedy next word "
             f"was found on the {screened} prompt(s) without a target of their own (its "
             "tokens followed to the end of the word, so `' Row'` + `'ling'` is `' Rowling'` "
             f"in any tokenizer). {screened - len(skipped)} agree and are computed: each "
             "model explains the agreed word, its full probability (all its tokens in the "
             f"model's own tokenizer). {len(skipped)} were skipped because the models predict "
             "different words (`screened_out.csv`)."]
    if skipped:
        models = list(data.models)
        lines += ["", "| skipped prompt | " + " | ".join(models) + " |",
                  "|---|" + "---|" * len(models)]
        for prompt_id in skipped:
            words = record.get(prompt_id, {}).get("words", {})
            lines.append(f"| {prompt_id} | " + " | ".join(
                _code(repr(words.get(m, {}).get("word", "?"))) for m in models) + " |")
    return lines


def _across_models(data: RunData, matrices: dict[str, OverlapMatrix], figures: Path) -> list[str]:
    independent = matrices["independent"]
    names = independent.names
    pairs = list(combinations(range(len(names)), 2))
    compared = sum(int(independent.n_samples[i, j]) for i, j in pairs)
    counts = []
    for i, j in pairs:
        count = (f"{names[i]} vs {names[j]}: compared on {int(independent.n_samples[i, j])} "
                 f"of {len(data.complete_prompts())} prompts")
        skipped = int(independent.n_skipped_target[i, j])
        if skipped:
            count += f" ({skipped} skipped: the two explain different words)"
        counts.append(count)
    lines = [
        "",
        "## Across models",
        "",
        "Two models are compared on a prompt only when both explain the same word. "
        + "; ".join(counts) + ".",
    ]
    if not compared:
        return [*lines, "", "No two models predict the same next word on any prompt, so "
                "nothing is compared. Give the word to explain as the prompt's `target` to "
                "compare the models on it."]
    s = SHARED_DEFINITIONS[data.options.definition]
    lines += [
        "",
        f"Shared terms: {_DEFINITION_TEXT[data.options.definition]} (the primary definition; "
        "the findings below show both).",
        "",
        "| models | extraction | prompts | weighted overlap (cross-prompt) | Jaccard | "
        "Jaccard controls: uniform / order / cross-prompt | top-10 overlap (uniform chance, "
        "cross-prompt) | shared / salient A / salient B | mean order shared / not shared | "
        "cancellation shared / not shared |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for extraction, matrix in matrices.items():
        for i, j in pairs:
            mean = {key: float(value[i, j]) for key, value in matrix.mean.items()}
            lines.append(
                f"| {names[i]} vs {names[j]} | {extraction} | {int(matrix.n_samples[i, j])} | "
                f"{_interval(matrix, 'weighted_overlap', i, j)} "
                f"({_num(mean.get('weighted_overlap_cross_prompt'))}) | "
                f"{_interval(matrix, f'jaccard{s}', i, j)} | "
                f"{' / '.join(_num(mean.get(f'jaccard{s}{c}')) for c in _CONTROL_SUFFIXES)} | "
                f"{_with_control(mean, f'top_k_overlap{s}', ('_chance_uniform', '_cross_prompt'))}"
                f" | {_num(mean[f'n_shared{s}'], 1)} / "
                f"{_num(mean['n_salient_a'], 1)} / {_num(mean['n_salient_b'], 1)} | "
                f"{_num(mean[f'mean_order_shared{s}'], 2)} / "
                f"{_num(mean[f'mean_order_not_shared{s}'], 2)} | "
                f"{_num(mean[f'cancellation_shared{s}'], 2)} / "
                f"{_num(mean[f'cancellation_not_shared{s}'], 2)} |"
            )
    lines += ["", "Means over the compared prompts, with 95% bootstrap intervals over prompts "
              "in brackets; counts and orders are per prompt, from model A's side (see "
              "[Definitions](#definitions))."]
    lines += _findings(independent, pairs, data.options.definition)
    lines += capability_findings(data, independent, figures)
    lines += _sensitivity(data, names, pairs)
    if "shared" in matrices:
        lines += ["", f"> {_SHARED_NOTE}", *_joint_control(data)]
    for extraction, matrix in matrices.items():
        size = len(names)
        if size <= PAIR_VIEW_MODELS:  # a heat-map of 2-3 models is mostly its diagonal
            figure, _ = plot_overlap_pairs(matrix, ("weighted_overlap", "jaccard"),
                                           figure=_blank())
        else:
            figure, axes = _figure(2 * (1.8 + 1.0 * size), 1.0 + 0.9 * size, ncols=2)
            for ax, metric in zip(axes, ("weighted_overlap", "jaccard"), strict=True):
                plot_overlap_heatmap(matrix, metric, ax=ax)
        heat = _save(figure, figures / f"overlap-{extraction}.png")
        figure, (left, right) = _figure(2 * (2.0 + 0.55 * independent.order[
            "order_counts_salient"].shape[-1]), 3.6, ncols=2)
        plot_order_histogram(matrix, ax=left)
        plot_cancellation(matrix, ax=right)
        orders = _save(figure, figures / f"orders-{extraction}.png")
        lines += [
            "",
            f"### {extraction.capitalize()} extraction",
            "",
            f"![overlap of the model pairs, {extraction}](figures/{heat})",
            "",
            f"![orders and cancellation, {extraction}](figures/{orders})",
        ]
    return lines


def _joint_control(data: RunData) -> list[str]:
    """The mismatched-pair control of shared extraction, from ``joint_control.csv``."""
    path = data.out_dir / "joint_control.csv"
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return []
    lines = ["", "**How much sharing the joint fit makes by itself** (mismatched-pair control): "
             "shared extraction is also run on model A's prompt i jointly with model B's prompt "
             "j ≠ i. Gain = metric of the joint fit − metric of independent extraction; the "
             "ratio is the gain on mismatched pairs over the gain on matched pairs (near 1: the "
             "fit makes its extra sharing whatever the prompts).", "",
             "| models | metric | gain, matched prompts | gain, mismatched prompts | ratio | "
             "prompts |", "|---|---|---|---|---|---|"]

    def cell(row: dict[str, str], name: str) -> str:
        value = [row[name], row[f"{name}_ci_low"], row[f"{name}_ci_high"]]
        if not value[0]:
            return "–"
        mean, low, high = (float(v) if v else math.nan for v in value)
        return f"{mean:+.3f} [{_num(low)}, {_num(high)}]"

    for row in rows:
        lines.append(f"| {row['model_a']} vs {row['model_b']} | {row['metric']} | "
                     f"{cell(row, 'gain_matched')} | {cell(row, 'gain_mismatched')} | "
                     f"{cell(row, 'ratio')} | {row['n_prompts']} |")
    return lines


def _prompt_section(
    data: RunData, prompt, matrices: dict[str, OverlapMatrix], figures: Path
) -> list[str]:
    salience = data.options.salience()
    found = {m: data.results[m, prompt.id] for m in data.models if (m, prompt.id) in data.results}
    lines = ["", f"## Prompt {_code(prompt.id)}", "", f"> {prompt.text}", ""]
    if not found:
        return [*lines, "Not computed yet."]
    players = next(iter(found.values())).players
    how = "given in the prompt file" if prompt.players else "chosen automatically"
    asked = data.options.n_players
    if not prompt.players and len(players) < asked:
        how += (f"; {len(players)} of the {asked} asked: the prompt has only {len(players)} "
                "content words, and stop words and punctuation are never chosen")
    lines += [
        f"Players ({how}): {', '.join(_code(p) for p in players)}",
        "",
        "| model | explains | v(N) | v(∅) | salient AND / OR | Σ\\|I\\| | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    top = {}
    for model, result in found.items():
        terms = result.salient(**salience)
        top[model] = terms[:TOP]
        n_and = sum(term.type == "and" for term in terms)
        lines.append(
            f"| {model} | {_code(repr(result.target_text))} | {float(result.values[-1]):.3f} | "
            f"{float(result.values[0]):.3f} | {n_and} / {len(terms) - n_and} | "
            f"{result.objective:.3f} | {result.metadata.get('seconds', math.nan):.1f} |"
        )
    lines += ["", "| rank | " + " | ".join(top) + " |", "|---" * (len(top) + 1) + "|"]
    rows = max(len(terms) for terms in top.values())
    for rank in range(rows):
        cells = [_term(terms[rank]) if rank < len(terms) else "" for terms in top.values()]
        lines.append(f"| {rank + 1} | " + " | ".join(cells) + " |")
    figure, _ = plot_top_interactions(found, **salience, n_top=TOP, figure=_blank())
    bars = _save(figure, figures / f"{prompt.id}-top.png")
    lines += ["", f"![strongest interactions](figures/{bars})", ""]
    for model, result in found.items():
        figure, _ = draw_and_or_graph(
            and_or_graph(result, **salience), max_interactions=GRAPH_TERMS, figure=_blank(),
            title=f"{model}: AND-OR graph for {result.target_text.strip()!r}")
        name = _save(figure, figures / f"{prompt.id}-{model}-graph.png")
        lines.append(f"![AND-OR graph of {model}](figures/{name})")
    lines += _prompt_overlap(data, prompt, found, matrices)
    return lines


def _prompt_overlap(data, prompt, found, matrices) -> list[str]:
    complete = [p.id for p in data.complete_prompts()]
    if len(found) < 2 or not matrices or prompt.id not in complete:
        return []
    index = complete.index(prompt.id)
    names = matrices["independent"].names
    rows, skipped = [], []
    for i, j in combinations(range(len(names)), 2):
        a, b = found[names[i]], found[names[j]]
        if a.target_key != b.target_key:
            skipped.append(f"{names[i]} explains {a.target_text!r}, {names[j]} explains "
                           f"{b.target_text!r}")
            continue
        for extraction, matrix in matrices.items():
            value = {k: float(v[index, i, j]) for k, v in matrix.per_sample.items()}
            s = SHARED_DEFINITIONS[data.options.definition]
            rows.append(
                f"| {names[i]} vs {names[j]} | {extraction} | "
                f"{_with_control(value, 'weighted_overlap', ('_cross_prompt',))} | "
                f"{_with_control(value, f'jaccard{s}', _CONTROL_SUFFIXES)} | "
                f"{_num(value[f'n_shared{s}'], 0)} |")
    lines = []
    if rows:
        lines += ["", "| models | extraction | weighted overlap (cross-prompt) | Jaccard "
                  "(uniform / order-preserving chance / cross-prompt) | shared terms |",
                  "|---|---|---|---|---|", *rows]
    if skipped:
        lines += ["", "Not compared (different next words): " + "; ".join(skipped) + "."]
    return lines


#: Controls of a metric, as suffixes of its name: uniform chance, order-preserving chance,
#: cross-prompt.
_CONTROL_SUFFIXES = ("_chance_uniform", "_chance_order", "_cross_prompt")
_DEFINITION_TEXT = {"same_sign": "salient in both with the same type, player set and sign",
                    "any_sign": "salient in both with the same type and player set, either sign"}
_CONTROL_NAMES = {"_chance_uniform": "uniform chance", "_chance_order": "order-preserving chance",
                  "_cross_prompt": "cross-prompt control"}


def _with_control(value: dict[str, float], metric: str, suffixes: tuple[str, ...]) -> str:
    """'0.18 (0.03 / 0.05 / 0.06)': a metric with the controls computed for it."""
    controls = [_num(value[metric + suffix]) for suffix in suffixes if metric + suffix in value]
    return _num(value[metric]) + (f" ({' / '.join(controls)})" if controls else "")


def _versus(matrix: OverlapMatrix, metric: str, control: str, i: int, j: int,
            name: str) -> str:
    """'above the <name> (0.07) by 0.06 [0.05, 0.08], Wilcoxon p = 0.001, 34 of 37 prompts
    above', in neutral words; the interval decides above / below / not distinguishable."""
    if f"{metric}_minus_{control}" not in matrix.mean:
        return f"no {name} (not computed)"
    test = matrix.paired(metric, control)
    mean, low, high = (float(test[k][i, j]) for k in ("mean", "ci_low", "ci_high"))
    level = float(matrix[control][i, j])
    if not math.isfinite(mean):
        return f"{name} {_num(level)}: no prompt defines both"
    where = ("above" if low > 0 else "below" if high < 0 else "not distinguishable from")
    p_value = float(test["p_value"][i, j])
    tested = f"Wilcoxon p = {p_value:.2g}, " if math.isfinite(p_value) else ""
    return (f"{where} the {name} ({_num(level)}): difference {mean:+.3f} "
            f"[{_num(low, 3)}, {_num(high, 3)}], {tested}{int(test['n_above'][i, j])} of "
            f"{int(test['n'][i, j])} prompts above")


def _findings(matrix: OverlapMatrix, pairs: list[tuple[int, int]], primary: str) -> list[str]:
    """The paper's claims on the independent extraction, each next to its controls, under
    the primary definition of a shared term and then the other."""
    names = matrix.names
    order_rows = matrix.order_records()
    definitions = sorted(SHARED_DEFINITIONS, key=lambda name: name != primary)
    lines = ["", "### Findings (independent extraction, each next to its controls)", ""]
    for i, j in pairs:
        lines += [f"**{names[i]} vs {names[j]}** ({int(matrix.n_samples[i, j])} prompts):", ""]
        strength = _versus(matrix, "weighted_overlap", "weighted_overlap_cross_prompt", i, j,
                           "cross-prompt control")
        lines += [f"- *Sharing, by strength* (no definition of shared needed) — weighted "
                  f"overlap {_interval(matrix, 'weighted_overlap', i, j)}: {strength}.", ""]
        for definition in definitions:
            lines += [f"*Shared = {_DEFINITION_TEXT[definition]}* "
                      f"({'primary' if definition == primary else 'secondary'}):", ""]
            lines += _definition_findings(matrix, order_rows, i, j, definition)
    return lines


def _definition_findings(matrix: OverlapMatrix, order_rows: list[dict[str, Any]], i: int,
                         j: int, definition: str) -> list[str]:
    """Sharing, order and cancellation of one pair under one definition of shared, with
    the per-order table."""
    s = SHARED_DEFINITIONS[definition]
    jaccard, mean_order, shared = f"jaccard{s}", f"mean_order_shared{s}", f"cancellation_shared{s}"
    lines = [
        f"- *Sharing* — Jaccard {_interval(matrix, jaccard, i, j)}: "
        + "; ".join(_versus(matrix, jaccard, jaccard + suffix, i, j, _CONTROL_NAMES[suffix])
                    for suffix in _CONTROL_SUFFIXES) + ".",
        f"- *Order* — mean order of the shared terms {_interval(matrix, mean_order, i, j)}: "
        + "; ".join(_versus(matrix, mean_order, mean_order + suffix, i, j,
                            f"order that {_CONTROL_NAMES[suffix]} predicts")
                    for suffix in ("_chance_order", "_cross_prompt")) + ".",
        f"- *Cancellation* — of the shared terms {_interval(matrix, shared, i, j)}: "
        + "; ".join(_versus(matrix, shared, control, i, j, name) for control, name in (
            (f"cancellation_not_shared{s}", "non-shared terms"),
            (f"cancellation_size_matched{s}", "size-matched random terms"),
            (f"cancellation_strength_matched{s}",
             "strength-matched terms (as many of A's strongest)"),
            (f"cancellation_shared{s}_cross_prompt", "cross-prompt shared terms"))) + ".",
        "", "| order | salient (A) | shared | sharing rate | order-preserving chance | ratio | "
        "cross-prompt |", "|---|---|---|---|---|---|---|",
    ]
    for row in order_rows:
        if (row["model_a"], row["model_b"], row["definition"]) != (
                matrix.names[i], matrix.names[j], definition):
            continue
        lines.append(
            f"| {row['order']} | {row['n_salient_a']} | {row['n_shared']} | "
            f"{_num(row['rate'])} [{_num(row['ci_low'], 2)}, {_num(row['ci_high'], 2)}] | "
            f"{_num(row['rate_chance_order'])} | {_num(row['ratio_chance_order'], 2)} | "
            f"{_num(row['rate_cross_prompt'])} |")
    return [*lines, ""]


def _sensitivity(data: RunData, names: list[str], pairs: list[tuple[int, int]]) -> list[str]:
    """The main comparison at every threshold of the τ sweep (independent extraction)."""
    if not data.options.tau_sweep:
        return []
    rows = tau_sweep(data.results, models=names, prompts=[p.id for p in data.complete_prompts()],
                     options=data.options)
    found = {(row["tau"], row["model_a"], row["model_b"], row["metric"]): row for row in rows}
    s = SHARED_DEFINITIONS[data.options.definition]
    lines = ["", "**Sensitivity to the salience threshold τ** (independent extraction; "
             f"shared: {_DEFINITION_TEXT[data.options.definition]}):", "",
             "| models | τ | salient (A) | Jaccard | cross-prompt control | difference | "
             "order-preserving chance |", "|---|---|---|---|---|---|---|"]
    for i, j in pairs:
        for tau in data.options.tau_sweep:
            def get(metric: str, i=i, j=j, tau=tau) -> dict[str, Any]:
                return found.get((tau, names[i], names[j], metric), {})

            difference = get(f"jaccard{s}_minus_jaccard{s}_cross_prompt")
            lines.append(
                f"| {names[i]} vs {names[j]} | {tau:g} | {_num(get('n_salient_a').get('mean'), 1)}"
                f" | {_num(get(f'jaccard{s}').get('mean'))} | "
                f"{_num(get(f'jaccard{s}_cross_prompt').get('mean'))} | "
                f"{_num(difference.get('mean'))} [{_num(difference.get('ci_low'), 2)}, "
                f"{_num(difference.get('ci_high'), 2)}] | "
                f"{_num(get(f'jaccard{s}_chance_order').get('mean'))} |")
    return lines


def _definitions(data: RunData, *, tau: float) -> list[str]:
    """Each quantity of the report, defined once."""
    kinds = sorted({result.value_kind or "?" for result in data.results.values()})
    values = {
        "log_odds": "the log-odds `log p / (1 - p)` of the explained word's probability (all "
                    "its tokens)",
        "log_prob": "the log-probability of the explained word (all its tokens)",
        "log_prob_diff": "`log p(target) - log p(foil)` (a prompt's `target` vs `foil`)",
        "log_odds_diff": "log-odds of the target minus log-odds of the foil",
        "raw": "the target token's logit",
        "raw_diff": "the target token's logit minus the foil's",
    }
    rows = [
        ("v(T)", "the model's value with only the players in T present (the others' token "
                 "embeddings replaced by the baseline): "
                 + "; ".join(f"{_code(k)}: {values.get(k, 'a value function')}" for k in kinds)),
        ("v(N), v(∅)", "v with every player present, and with none"),
        ("explains", "the word whose value is explained (a contrast reads `target vs foil`)"),
        ("AND(S), OR(S)", "the sparse AND and OR interactions of the player set S; they sum "
                          "to v(N) - v(∅) up to the noise the extraction allows"),
        ("salient", f"an interaction with |I| ≥ τ·max|I| (τ = {tau}) of its result; salient "
                    "AND / OR counts them"),
        ("Σ|I|", "the extraction objective, Σ over S ≠ ∅ of |AND(S)| + |OR(S)|"),
        ("shared", "a salient term of model A that B also has salient: with the same type, "
                   "set and sign (`same_sign`), or the same type and set (`any_sign`; metrics "
                   f"named `*_any_sign`); primary here: `{data.options.definition}`"),
        ("weighted overlap", "Σ min(|I_A|, |I_B|) / Σ max(|I_A|, |I_B|) over all terms, "
                             "signs kept apart (1 = identical interactions)"),
        ("Jaccard", "shared salient terms / salient terms of either model"),
        ("uniform chance", "the mean metric when B's salient set is moved to random terms, "
                           "its size and signs kept"),
        ("order-preserving chance", "the same with B's terms moved within their orders (the "
                                    "count and signs of every order kept): the sharing that "
                                    "the number of terms per order alone produces"),
        ("cross-prompt control", "the metric of A on a prompt against B on other prompts "
                                 "(players paired by position, both the last content words; "
                                 "prompts with the same number of players): the sharing "
                                 "that does not depend on the prompt"),
        ("size-matched, strength-matched", "the cancellation of as many of A's salient "
                                           "terms as are shared, taken at random, or the "
                                           "strongest"),
        ("difference, p", "the paired difference metric - control over prompts with its 95% "
                          "bootstrap interval, and the two-sided Wilcoxon signed-rank p-value"),
        ("top-10 overlap", "terms common to the two models' 10 strongest, over 10"),
        ("mean order", "the mean number of players of the shared and the non-shared terms"),
        ("cancellation", "1 - |Σ I| / Σ |I| of a set of terms (0: all one sign, 1: they "
                         "cancel out)"),
    ]
    return ["", "## Definitions", "", "| quantity | meaning |", "|---|---|",
            *(f"| {_cell(name)} | {_cell(meaning)} |" for name, meaning in rows)]


def write_report(out_dir: str | os.PathLike) -> Path:
    """Write ``report.md`` and ``figures/*.png`` for the run in ``out_dir``; return the path."""
    out_dir = Path(out_dir)
    data = load_run(out_dir)
    figures = out_dir / "figures"
    figures.mkdir(exist_ok=True)
    lines = _header(data)
    matrices: dict[str, OverlapMatrix] = {}
    if len(data.models) > 1 and data.complete_prompts():
        for extraction in data.extractions():
            matrices[extraction] = compare_models(
                data.table(extraction), **data.options.salience(), seed=data.options.seed
            )
        lines += _across_models(data, matrices, figures)
    for prompt in data.prompts:
        lines += _prompt_section(data, prompt, matrices, figures)
    lines += _definitions(data, tau=data.options.tau)
    lines += ["", "---", "", "Files: `results/<model>/<prompt>.npz` (load with "
              "`InteractionResult.load`), `graphs/` (GraphML), `comparison.json`, "
              "`overlap.csv` (every metric, control and paired difference per pair), "
              "`per_order.csv`, `cancellation.csv`, `sweep.csv`, `terms.csv`, "
              "`screened_out.csv` (prompts skipped by screening), `joint_control.csv` (with "
              "shared extraction), `capability.csv` and `capability_sharing.csv` (claim 2), "
              "`manifest.json`, `run.log`."]
    return write_text(out_dir / "report.md", "\n".join(lines) + "\n")

