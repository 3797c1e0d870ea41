"""Exact joint extraction of ``M`` models by the structured interior-point method.

The joint loss ``(1-α) max_m |x_m| + α Σ_m |x_m|`` of one pattern is the atomic norm of
the sign vectors ``g ∈ {-1, 0, 1}^M \\ {0}`` with costs ``1 - α + α |supp g|`` (its unit
ball is their convex hull, see :func:`._lp.dual_pattern_norm`), so every pattern and type
gets one non-negative weight per generator, ``I^m(S) = Σ_g g_m λ_{S,g}``. The shared
decomposition is eliminated: with ``d_m = v_and^m - v_or^m`` the models agree on ``p̄``
exactly when ``d_m - d_0 = 2 (p_m - p_0)`` for bounded ``p``. Per mask ``T`` the LP has
``M`` matching rows and ``M - 1`` decomposition rows::

    Σ_{∅≠S⊆T} I_and^m(S) - Σ_{∅≠S⊆N\\T} I_or^m(S) - q_m(T) + ξ_m = v_m(T)
    [Σ_{∅≠S⊆T} + Σ_{∅≠S⊆N\\T}] (I^m - I^0)(S) - 2 p_m(T) + 2 p_0(T) + κ_m = 0

with ``|q_m| <= noise_bound_m``, ``|p_m| <= p_bound_m`` and free constants ``ξ, κ``. Row
``(t, T)`` meets pattern ``S`` through ``1[S ⊆ T]`` (AND) or ``1[S ⊆ N \\ T]`` (OR) times a
coefficient that depends only on the row type ``t`` and the generator, so the normal matrix
``A Θ A^T`` has closed-form blocks: per pair of row types one subset-sum table per
interaction type, read at the "both" and "neither" codes of the mask pair as in
:mod:`.ipm`, plus small diagonal blocks for ``q`` and ``p``.

The decomposition rows are generated: the bound on ``p`` is loose for most masks (at the
defaults none was tight on SmolLM2/Gemma prompt pairs), so the first solve has the ``M 2**n``
matching rows only; masks whose models' ``p̄`` intervals do not meet join with their
``M - 1`` decomposition rows, and the LP is solved again until every mask is feasible. The
final point is then optimal for the full LP; :func:`._lp.dual_bound` certifies it.

>>> v = torch.tensor([[[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]]], dtype=torch.float64)
>>> zero = torch.zeros(1, 2, dtype=torch.float64)
>>> solution = solve(Problem(v, zero, p_bound=zero + 1, alpha=0.1))   # AND{0,1} in both
>>> round(float(solution.dual[0]), 6)                                  # (1 - α) + 2 α
1.1
"""

from __future__ import annotations

import itertools

import torch
from tqdm.auto import tqdm

from captum_interactions._transforms import _subset_sums, _superset_sums

from ._base import (
    HALF_FRACTION,
    POSITIVE,
    POSITIVE_INT,
    Problem,
    Solution,
    Solves,
    from_interactions,
    growing,
    past,
)
from ._interior_point import code_masks, mehrotra, pad_empty, pair_codes

__all__ = ["MAX_MATCHING_ROWS", "MAX_MODELS", "SOLVES", "solve"]

#: Most models the solver takes: the generators of the loss number ``3**M - 1``.
MAX_MODELS = 4
#: Most matching rows (``M * 2**n``): the normal matrix then takes 512 MiB, and two models at
#: ``n = 12`` take about 75 s on a 2-core CPU (HiGHS several times longer). Generating the
#: matching rows as :mod:`.working_set` does was measured slower for the joint LP at
#: ``n = 10 .. 12``: about 9 rounds from scratch for a final set of about half the masks.
MAX_MATCHING_ROWS = 8192
#: Seconds per sample: 2.3 s for two models at n = 10 (SmolLM2 and Gemma values), 12 s at
#: n = 11; 7 s for three models at n = 10.
_SECONDS = growing(2.3, 10, 6.0)


def _generators(models: int, alpha: float, like: torch.Tensor):
    """The loss's atoms: non-zero sign vectors ``[G, M]`` and their costs ``[G]``."""
    signs = torch.tensor(list(itertools.product((-1.0, 0.0, 1.0), repeat=models))).to(like)
    signs = signs[signs.abs().sum(-1) > 0]
    return signs, 1 - alpha + alpha * signs.abs().sum(-1)


def _slack_coefficients(groups: int, present: list[int], reference: bool) -> torch.Tensor:
    """Coefficients ``[groups, len(present)]`` of bounded slack columns in their rows.

    Noise (``reference=False``): ``-q_m`` in model ``m``'s matching rows. Model parts
    (``reference=True``): ``+2 p_0`` in every decomposition row, ``-2 p_m`` in row ``m``.
    """
    out = torch.zeros(groups, len(present), dtype=torch.float64)
    for column, model in enumerate(present):
        if not reference:
            out[model, column] = -1
        elif model == 0:
            out[:, column] = 2
        else:
            out[model - 1, column] = -2
    return out


class _SharedProblem:
    """Operators of the joint LP of one sample (``values [1, M, 2**n]``) on a row set.

    Rows: the matching rows of every model on all masks, then the decomposition rows of
    the masks ``decomposition`` (``M - 1`` each). Columns: generator weights (AND, OR),
    then the shifted noise of models with a noise bound and the shifted ``p`` of models
    with a ``p`` bound (``0 <= x <= 2 bound``).
    """

    def __init__(self, values, noise_bound, p_bound, *, alpha: float, decomposition):
        _, models, size = values.shape
        self.n, self.m, self.models, self.size = size.bit_length() - 1, size - 1, models, size
        self.kinds = 2 * models - 1 if len(decomposition) else models  # row types present
        self.decomposition = decomposition
        signs, costs = _generators(models, alpha, values)
        self.signs = signs
        own = torch.eye(models).to(values)  # matching rows: I^m
        difference = own[1:] - own[:1]  # decomposition rows: I^m - I^0
        rows_and, rows_or = own, -own
        if self.kinds > models:
            rows_and, rows_or = torch.cat([own, difference]), torch.cat([-own, difference])
        self.c_and, self.c_or = rows_and @ signs.T, rows_or @ signs.T  # [kinds, G]
        self.noisy = [k for k in range(models) if float(noise_bound[0, k]) > 0]
        self.bounded_p = [k for k in range(models) if float(p_bound[0, k]) > 0]
        self.q_coef = _slack_coefficients(models, self.noisy, False).to(values)
        self.p_coef = _slack_coefficients(models - 1, self.bounded_p, True).to(values)
        n_d = len(decomposition)
        self.n_generators = 2 * len(signs) * self.m
        self.n_noise = len(self.noisy) * size
        width = self.n_generators + self.n_noise + len(self.bounded_p) * n_d
        self.cost = values.new_zeros(1, width)
        self.cost[0, : self.n_generators] = costs.repeat_interleave(self.m).repeat(2)
        self.upper = torch.full_like(self.cost, float("inf"))
        noise = 2 * noise_bound[0, self.noisy].repeat_interleave(size)
        parts = 2 * p_bound[0, self.bounded_p].repeat_interleave(n_d)
        self.upper[0, self.n_generators :] = torch.cat([noise, parts])
        # Right-hand sides with the slacks shifted (q = s - bound, p = π - bound).
        match = values[0] + self.q_coef @ noise_bound[0, self.noisy, None]
        split = self.p_coef @ p_bound[0, self.bounded_p, None]
        self.rhs = torch.cat([match.flatten(), split.expand(-1, n_d).flatten()])[None]
        kinds = torch.arange(self.kinds, device=values.device)
        self.row_kind = torch.cat([kinds[:models].repeat_interleave(size),
                                   kinds[models:].repeat_interleave(n_d)])
        masks = torch.arange(size, device=values.device)
        self.row_mask = torch.cat([masks.repeat(models), decomposition.repeat(models - 1)])
        self.row_ids = self.row_kind * size + self.row_mask
        self.free = torch.nn.functional.one_hot(self.row_kind, self.kinds).to(values)
        counts = torch.bincount(self.row_kind.cpu(), minlength=self.kinds).tolist()
        ends = torch.tensor(counts).cumsum(0).tolist()
        self.kind_ranges = [(end - count, end) for count, end in zip(counts, ends, strict=True)]
        self.plan: tuple[torch.Tensor, ...] | None = None

    # -- pieces of the columns
    def weights(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Generator weights of the AND and OR patterns, ``[batch, G, 2**n]`` (entry 0 is 0)."""
        g = len(self.signs)
        return (pad_empty(x[:, : g * self.m].view(len(x), g, self.m)),
                pad_empty(x[:, g * self.m : self.n_generators].view(len(x), g, self.m)))

    def slacks(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        noise = x[:, self.n_generators : self.n_generators + self.n_noise]
        parts = x[:, self.n_generators + self.n_noise :]
        return (noise.view(len(x), len(self.noisy), self.size),
                parts.view(len(x), len(self.bounded_p), len(self.decomposition)))

    def interactions(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Net AND and OR interactions per model, ``[batch, M, 2**n]``."""
        and_w, or_w = self.weights(x)
        return (torch.einsum("gm,bgs->bms", self.signs, and_w),
                torch.einsum("gm,bgs->bms", self.signs, or_w))

    def inner(self, x: torch.Tensor) -> torch.Tensor:
        """The interaction part of every row type on all masks, ``[batch, kinds, 2**n]``."""
        and_w, or_w = self.weights(x)
        up = _subset_sums(torch.einsum("kg,bgs->bks", self.c_and, and_w), self.n)
        return up + _subset_sums(torch.einsum("kg,bgs->bks", self.c_or, or_w), self.n).flip(-1)

    # -- the LP operators of _mehrotra
    def matvec(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x).flatten(1)[:, self.row_ids]
        noise, parts = self.slacks(x)
        match, split = out[:, : self.models * self.size], out[:, self.models * self.size :]
        match += torch.einsum("kj,bjs->bks", self.q_coef, noise).flatten(1)
        if split.shape[-1]:
            split += torch.einsum("kj,bjd->bkd", self.p_coef, parts).flatten(1)
        return out

    def rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        full = y.new_zeros(len(y), self.kinds * self.size).index_copy_(-1, self.row_ids, y)
        full = full.view(len(y), self.kinds, self.size)
        up = torch.einsum("kg,bks->bgs", self.c_and, _superset_sums(full, self.n))
        down = torch.einsum("kg,bks->bgs", self.c_or, _subset_sums(full, self.n).flip(-1))
        match = y[:, : self.models * self.size].view(len(y), self.models, self.size)
        split = y[:, self.models * self.size :].view(len(y), self.models - 1,
                                                       len(self.decomposition))
        return torch.cat([
            up[..., 1:].flatten(1), down[..., 1:].flatten(1),
            torch.einsum("kj,bks->bjs", self.q_coef, match).flatten(1),
            torch.einsum("kj,bkd->bjd", self.p_coef, split).flatten(1),
        ], -1)

    def shift_free_(self, normal: torch.Tensor) -> torch.Tensor:
        """Add ``ρ F F^T`` to ``normal`` in place and return ``ρ`` (see
        :func:`._interior_point.mehrotra`).

        Without slack columns (no noise or no ``p`` bound) ``A`` alone can be rank-deficient
        where ``[A F]`` is not; ``ρ`` is the mean diagonal. ``F`` is one-hot by row kind and
        the kinds' rows are contiguous, so ``F F^T`` is one block of ones per kind. The
        shift is harmless where it is not needed (measured: same iterations and gaps).
        """
        rows = len(self.row_kind)
        shift = normal.diagonal(dim1=-2, dim2=-1)[:, :rows].mean(-1, keepdim=True)
        for start, stop in self.kind_ranges:
            normal[:, start:stop, start:stop] += shift[..., None]
        return shift

    def _plan(self) -> tuple[torch.Tensor, ...]:
        """Code index of every row pair (with a dummy row), and the slack blocks' entries."""
        if self.plan is None:
            device = self.row_mask.device
            both, neither = code_masks(self.n, device)
            codes = len(both)
            pair = pair_codes(self.n, device).view(self.size + 1, -1)[:-1, :-1].long()
            kind = self.row_kind
            full = (kind[:, None] * self.kinds + kind[None, :]) * codes
            full = full + pair[self.row_mask[:, None], self.row_mask[None, :]]
            rows = len(kind)
            padded = torch.full((rows + 1, rows + 1), self.kinds**2 * codes).to(full)
            padded[:-1, :-1] = full
            padded[-1, -1] += 1
            self.plan = (both, neither, padded.flatten().to(torch.int32),
                         self._slack_entries(0, self.models, self.size),
                         self._slack_entries(self.models * self.size, self.models - 1,
                                             len(self.decomposition)))
        return self.plan

    def _slack_entries(self, start: int, groups: int, length: int) -> torch.Tensor:
        """Flat indices ``[groups, groups, length]`` of the row pairs ``(g, i), (g', i)``."""
        stride = len(self.row_kind) + 1
        row = start + torch.arange(groups)[:, None] * length + torch.arange(length)
        return (row[:, None] * stride + row[None, :]).to(self.row_kind.device)

    def normal(self, theta: torch.Tensor) -> torch.Tensor:
        """``[[A diag(θ) A^T, 0], [0, 1]]``, dense (one gather from the kind-pair tables)."""
        both, neither, pair, noise_at, split_at = self._plan()
        and_t, or_t = self.weights(theta)
        pairs = self.kinds**2

        def table(coef, weights, codes):
            outer = torch.einsum("kg,lg,bgs->bkls", coef, coef, weights).reshape(-1, pairs,
                                                                               self.size)
            return _subset_sums(outer, self.n)[..., codes]

        blocks = table(self.c_and, and_t, both) + table(self.c_or, or_t, neither)
        flat = torch.cat([blocks.flatten(1), torch.tensor([0.0, 1.0]).to(blocks)
                          .expand(len(blocks), 2)], -1)
        size = len(self.row_kind) + 1
        matrix = flat.index_select(-1, pair).view(-1, size, size)
        noise, parts = self.slacks(theta)
        out = matrix.view(len(matrix), -1)
        out.index_add_(-1, noise_at.flatten(),
                       torch.einsum("kj,lj,bjs->bkls", self.q_coef, self.q_coef, noise)
                       .flatten(1))
        if len(self.decomposition):
            out.index_add_(-1, split_at.flatten(),
                           torch.einsum("kj,lj,bjd->bkld", self.p_coef, self.p_coef, parts)
                           .flatten(1))
        return matrix


def _separation(d: torch.Tensor, kappa: torch.Tensor, p_bound: torch.Tensor) -> torch.Tensor:
    """Per mask, how far apart the models' intervals for ``p̄`` are (``<= 0``: they meet).

    ``d [M, 2**n]`` is ``v_and - v_or`` per model up to the constants ``κ [M - 1]``:
    ``p̄ ∈ [(d_m + κ_m) / 2 - p_bound_m, (d_m + κ_m) / 2 + p_bound_m]`` for every ``m``.
    """
    centre = (d + torch.cat([kappa.new_zeros(1), kappa])[:, None]) / 2
    return (centre - p_bound[:, None]).amax(0) - (centre + p_bound[:, None]).amin(0)


def _solve_one(values, noise_bound, p_bound, *, alpha, tol, max_iter, margin, progress,
               deadline=None):
    """Row generation for one sample (``values [1, M, 2**n]`` centred, of unit size)."""
    size, models = values.shape[-1], values.shape[1]
    n = size.bit_length() - 1
    decomposition = torch.zeros(0, dtype=torch.int64, device=values.device)
    iterations = 0
    while True:
        problem = _SharedProblem(values, noise_bound, p_bound, alpha=alpha,
                                 decomposition=decomposition)
        fit = mehrotra(problem, tol=tol, max_iter=max_iter, deadline=deadline)
        x, y, xi = fit.x, fit.y, fit.xi
        iterations += fit.iterations
        a, o = problem.interactions(x)
        up, down = _subset_sums(a[0], n), _subset_sums(o[0], n).flip(-1)
        d = up + down
        if len(decomposition):
            kappa = xi[0, models:]
        else:  # free constants: centre every model's range on model 0's
            spread = d[1:] - d[:1]
            kappa = -(spread.amax(-1) + spread.amin(-1)) / 2
        separation = _separation(d, kappa, p_bound[0])
        separation[decomposition] = -torch.inf
        progress.set_postfix(rows=len(problem.row_kind), refresh=False)
        progress.update()
        separated = bool((separation > tol).any())
        if not separated or past(deadline):  # at the deadline: the best point so far
            residual = up - down + xi[0, :models, None] - values[0]
            return a[0], o[0], residual, y[0], problem, iterations, fit.converged & (
                not separated)
        # Masks close to separating come along: the next solution moves.
        near = torch.nonzero(separation > -2 * margin * p_bound[0].min()).flatten()
        decomposition = torch.cat([decomposition, near]).sort().values


def _duals(y: torch.Tensor, problem: _SharedProblem) -> tuple[torch.Tensor, torch.Tensor]:
    """The duals of :func:`._lp.dual_bound`: matching ``y`` and decomposition ``w``."""
    models, size = problem.models, problem.size
    match = y[: models * size].view(models, size)
    split = y.new_zeros(models - 1, size)
    if len(problem.decomposition):
        split[:, problem.decomposition] = y[models * size :].view(models - 1, -1)
    # Row m of the LP holds d_m - d_0; dual_bound's row m holds d_m / 2 - p̄ - p_m.
    return match, 2 * torch.cat([-split.sum(0, keepdim=True), split])


def _fits(n: int, models: int) -> str | None:
    if models > MAX_MODELS or models << n > MAX_MATCHING_ROWS:
        return (f"the joint 'ipm' solves at most {MAX_MODELS} models with M * 2**n <= "
                f"{MAX_MATCHING_ROWS} matching rows, got M={models}, n={n}")
    return None


def solve(
    problem: Problem,
    *,
    show_progress: bool = False,
    deadline: float | None = None,
    tol: float = 1e-9,
    max_iter: int = 100,
    margin: float = 0.2,
) -> Solution:
    """Solve the joint extraction LP of every sample of ``problem`` (``2 <= M <= 4`` models).

    Args:
        problem (Problem): joint, values of unit size (the registry's dispatch centres and
            scales them).
        show_progress (bool): tqdm progress bar over the interior-point solves.
        deadline (float, optional): :func:`time.monotonic` time to stop at (best point).
        tol (float): relative gap and infeasibility of each interior-point solve, and the
            separation (relative to the values' magnitude) below which a mask needs no
            decomposition rows. Tighter than the single-model default: the returned
            interactions are recomputed with the noise clipped into its bound, and a
            matching residual ``ε`` at a tight mask moves up to ``2**n ε`` of the loss
            (measured: certified gap 2e-7 at ``1e-8``, 5e-8 at ``1e-9`` on a three-model
            game at ``n = 10``, for one more iteration).
        max_iter (int): interior-point iteration limit per solve.
        margin (float): masks whose ``p̄`` intervals overlap by less than
            ``2 margin min_m p_bound_m`` join the decomposition rows with the violated ones.
    """
    values = problem.values
    parts, iterations, converged = [], 0, []
    with tqdm(desc="joint ipm", unit="solve", disable=not show_progress) as progress:
        for row in range(values.shape[0]):
            a, o, residual, y, lp, steps, done = _solve_one(
                values[row : row + 1], problem.noise_bound[row : row + 1],
                problem.p_bound[row : row + 1], alpha=problem.alpha, tol=tol,
                max_iter=max_iter, margin=margin, progress=progress, deadline=deadline,
            )
            parts.append((a, o, residual, *_duals(y, lp)))
            iterations = max(iterations, steps)
            converged.append(done)
    a, o, q, y, w = (torch.stack(part) for part in zip(*parts, strict=True))
    return from_interactions(problem, a, o, q, y, w=w, iterations=iterations,
                             converged=torch.cat(converged))


#: The joint ``"ipm"``: exact, 2 to :data:`MAX_MODELS` models with ``M * 2**n`` up to
#: :data:`MAX_MATCHING_ROWS`.
SOLVES = Solves(solve, {"tol": POSITIVE, "max_iter": POSITIVE_INT, "margin": HALF_FRACTION},
                max_players=12, fits=_fits,
                seconds=lambda n, models, options: _SECONDS(n) * (models / 2) ** 2.7)
