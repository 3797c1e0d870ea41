"""AND+OR transforms at n = 10..20: ours vs shapiq's exact Möbius vs a dense matrix vs numpy.

Run: ``.venv/bin/python benchmarks/transforms.py``. Every row is measured side by side in
this one run; ratios are ``their time / our time``. Results go to results/transforms.json.
"""

from __future__ import annotations

import numpy as np
import torch
from _timing import best_time, record

import captum_interactions as ci


def numpy_butterfly(values: np.ndarray) -> np.ndarray:
    """The plain numpy butterfly (AND transform only), the issue's reference point."""
    n = values.shape[-1].bit_length() - 1
    out = values.copy()
    for i in range(n):
        view = out.reshape(1 << (n - 1 - i), 2, 1 << i)
        view[:, 1, :] -= view[:, 0, :]
    return out


def dense_and_matrix(n: int) -> torch.Tensor:
    """The 2**n x 2**n Möbius matrix, built as a Kronecker power (what we never do)."""
    matrix = torch.ones(1, 1, dtype=torch.float64)
    step = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)
    for _ in range(n):
        matrix = torch.kron(step, matrix)
    return matrix


def shapiq_moebius_seconds(values: torch.Tensor, n: int) -> float:
    import shapiq

    table = values.numpy()
    weights = 1 << np.arange(n)

    def game(coalitions: np.ndarray) -> np.ndarray:
        return table[coalitions.astype(np.int64) @ weights]

    return best_time(lambda: shapiq.ExactComputer(n_players=n, game=game)("Moebius"),
                     repeats=1, budget=0)


def main() -> None:
    torch.set_num_threads(2)
    rows = []
    for n in (10, 12, 14, 16, 18, 20):
        values = torch.randn(1 << n, dtype=torch.float64)
        ours = best_time(lambda values=values: (ci.and_transform(values),
                                               ci.or_transform(values)))
        row = {"n": n, "ours_and_or_ms": ours * 1e3}
        array = values.numpy()
        row["numpy_and_ms"] = best_time(lambda array=array: numpy_butterfly(array)) * 1e3
        if n <= 12:
            matrix = dense_and_matrix(n)
            dense = best_time(lambda matrix=matrix, values=values: matrix @ values)
            row["dense_and_ms"] = dense * 1e3
            row["dense_over_ours"] = dense / ours
        if n <= 14:
            shapiq_time = shapiq_moebius_seconds(values, n)
            row["shapiq_moebius_s"] = shapiq_time
            row["shapiq_over_ours"] = shapiq_time / ours
        rows.append(row)
        print("  ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                        for key, value in row.items()), flush=True)
    targets = {
        "n16_under_5ms": next(r for r in rows if r["n"] == 16)["ours_and_or_ms"] < 5,
        "n20_under_150ms": next(r for r in rows if r["n"] == 20)["ours_and_or_ms"] < 150,
        "n14_5000x_shapiq": next(r for r in rows if r["n"] == 14)["shapiq_over_ours"] >= 5000,
    }
    print("targets:", targets)
    print("wrote", record("transforms", {"rows": rows, "targets": targets}))


if __name__ == "__main__":
    main()
