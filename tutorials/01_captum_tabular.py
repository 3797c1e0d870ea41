"""Tutorial 1: AND-OR interactions of your own PyTorch model, the Captum way.

A Captum user already knows ``attribute(inputs, baselines, target, feature_mask=...)``.
:class:`captum_interactions.AndOrInteractions` takes exactly those arguments, but instead of
one number per feature it returns *which combinations* of features the model relies on.

The model here is a small MLP trained on synthetic loan applications whose label follows a
rule with a known logical structure:

    approve  if  (income AND employed)  OR  (savings AND collateral)

so we can check that the interactions recover that structure. Steps:

1. train the model (a few seconds);
2. explain one applicant: features grouped into players with ``feature_mask``, absent
   features replaced by a baseline ("a typical rejected applicant");
3. read the salient AND and OR interactions, check universal matching, and relate them to
   Shapley values (which interactions share out among their players);
4. draw the AND-OR graph and export it as GraphML;
5. explain a *regression* model with Captum's defaults (no target, no value choice): one
   output per applicant is explained as it is, and its Shapley values are Captum's;
6. take the result to the tools you already use: a first-order map in Captum's shape, a
   waterfall of how the terms add up, and shapiq's ``InteractionValues`` (if installed).

Run it::

    python tutorials/01_captum_tabular.py            # full (about 20 s on a laptop CPU)
    python tutorials/01_captum_tabular.py --fast     # what CI runs
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

import torch
from captum.attr import ShapleyValues

import captum_interactions as ci
from captum_interactions.graphs import (
    and_or_graph,
    draw_and_or_graph,
    plot_waterfall,
    write_graph,
)

FEATURES = ["income", "employed", "savings", "collateral", "debt", "age", "zip_a", "zip_b"]
#: Players are groups of features: the two postcode features form one player "region".
PLAYERS = ["income", "employed", "savings", "collateral", "debt", "age", "region"]
GROUPS = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 6]])


def make_data(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Applicants (standard normal features) and the approval rule as labels."""
    x = torch.randn(n, len(FEATURES), generator=generator)
    yes = x > 0
    approve = (yes[:, 0] & yes[:, 1]) | (yes[:, 2] & yes[:, 3])
    return x, approve.long()


def train(steps: int, n: int) -> torch.nn.Module:
    """A 2-class MLP trained with Adam on the rule (seeded, so the tutorial is reproducible).

    Label smoothing keeps the log-odds calibrated (about ±3) instead of growing without bound
    on a noiseless rule.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains fastest on one thread
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    x, y = make_data(n, generator)
    model = torch.nn.Sequential(
        torch.nn.Linear(len(FEATURES), 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 2),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x), y, label_smoothing=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x_test, y_test = make_data(2000, generator)
    with torch.no_grad():
        accuracy = (model(x_test).argmax(-1) == y_test).float().mean()
    print(f"trained for {steps} steps: test accuracy {accuracy:.1%}")
    torch.set_num_threads(threads)
    return model.eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true",
                        default=bool(os.environ.get("TUTORIAL_FAST")),
                        help="small sizes, as run by the tests (or set TUTORIAL_FAST=1)")
    parser.add_argument("--out", type=Path, default=Path("tutorial-output/01"),
                        help="where figures and graphs go (default: %(default)s)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    model = train(steps=200 if args.fast else 500, n=4096 if args.fast else 8192)

    # One applicant who satisfies both halves of the rule, and one who satisfies only the
    # first. Absent features take the baseline: -1, i.e. "this condition does not hold".
    applicants = torch.tensor([
        [1.0, 1.0, 1.0, 1.0, 0.5, 0.3, -0.2, 0.4],
        [1.0, 1.0, -1.0, 1.0, 0.5, 0.3, -0.2, 0.4],
    ])
    explainer = ci.AndOrInteractions(model)
    results, delta = explainer.attribute(
        applicants,
        baselines=-1.0,
        target=1,                           # the "approve" class; v = its log-odds
        feature_mask=GROUPS,                # 8 features -> 7 players
        players=PLAYERS,
        perturbations_per_eval=128,         # all 2**7 masks of an applicant in one call
        return_convergence_delta=True,
    )
    print(f"universal matching error per applicant: {delta.tolist()}")

    for name, result in zip(("both halves", "first half only"), results, strict=True):
        print(f"\napplicant ({name}): v(all) = {float(result.values[-1]):+.2f}, "
              f"v(none) = {float(result.values[0]):+.2f}")
        for term in result.salient()[:6]:
            print(f"  {term.type.upper():3} {term.label:40} {term.value:+.3f}")
        shapley = result.shapley_values()
        ranked = sorted(zip(PLAYERS, shapley.tolist(), strict=True), key=lambda p: -abs(p[1]))
        print("  Shapley values (interactions shared out equally among their players):",
              ", ".join(f"{p} {v:+.2f}" for p, v in ranked[:4]))

    # (A AND B) OR (C AND D) is, as a sum of AND terms, AB + CD - ABCD (inclusion-exclusion):
    # expect two positive pairs and a negative four-way term for the first applicant, and
    # only the pair income & employed for the second. Check the pairs:
    strongest = {frozenset(term.players) for term in results[0].salient()[:8]}
    for pair in ({"income", "employed"}, {"savings", "collateral"}):
        found = any(pair <= term for term in strongest)
        print(f"conjunction {' & '.join(sorted(pair))} among the 8 strongest terms: {found}")

    # 5. A regressor (the loan amount) with the defaults: one output per example is explained
    # as it is (value "raw", recorded in value_kind), with no target to give. Shapley values
    # are those of the model's own values v, so they equal Captum's exact ShapleyValues.
    torch.manual_seed(1)
    regressor = torch.nn.Sequential(torch.nn.Linear(len(FEATURES), 16), torch.nn.Tanh(),
                                    torch.nn.Linear(16, 1)).eval()
    (amount,) = ci.AndOrInteractions(regressor).attribute(
        applicants[:1], baselines=-1.0, feature_mask=GROUPS, players=PLAYERS,
        perturbations_per_eval=128)
    captum = ShapleyValues(regressor).attribute(applicants[:1], baselines=-1.0,
                                                feature_mask=GROUPS)
    # attribution_map spreads each player's value over its features: Captum's shape
    gap = float((amount.attribution_map(GROUPS) - captum.double()).abs().max())
    print(f"\nregressor: value_kind {amount.value_kind!r}, v(all) = "
          f"{float(amount.values[-1]):+.3f}; largest |Shapley - Captum's ShapleyValues| "
          f"= {gap:.1e}")

    graph = and_or_graph(results[0])
    figure, _ = draw_and_or_graph(graph, title="loan approval: AND-OR interactions")
    figure.savefig(args.out / "and_or_graph.png", dpi=110)
    write_graph(graph, args.out / "and_or_graph.graphml")
    results[0].save(args.out / "applicant.npz")
    print(f"\nwrote {args.out / 'and_or_graph.png'}, .graphml and the result (applicant.npz)")

    # 6. Bridges. A batch of results becomes one map shaped like the inputs, as Captum's
    # attributions are (feed it to captum.attr.visualization like theirs); a waterfall shows
    # how the terms add up from v(∅) to v(N); shapiq gets the exact Möbius coefficients of
    # the AND and OR terms together, and any of its indices from them.
    maps = ci.attribution_maps(results, GROUPS)
    print(f"\nShapley maps {tuple(maps.shape)} like the inputs {tuple(applicants.shape)}; "
          f"both-halves applicant: {[round(v, 2) + 0.0 for v in maps[0].tolist()]}")
    figure, _ = plot_waterfall(results[0], n_top=6)
    figure.savefig(args.out / "waterfall.png", dpi=110)
    print(f"wrote {args.out / 'waterfall.png'}; the terms of income & employed: "
          f"{[round(term.value, 3) + 0.0 for term in results[0]['income', 'employed']]} (AND, OR)")
    if importlib.util.find_spec("shapiq") is not None:
        k_sii = results[0].to_shapiq("k-SII", order=2).get_top_k(3).dict_values
        print("shapiq k-SII, the strongest:", {" & ".join(PLAYERS[i] for i in key): round(value, 3)
                                               for key, value in k_sii.items() if key})


if __name__ == "__main__":
    main()
