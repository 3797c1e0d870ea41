"""Exact single-model extraction with a batched primal-dual interior-point method.

The extraction LP has one equality row per non-empty mask ``T`` (universal matching, with
the constant of ``v`` eliminated against the empty-set row, which makes the solution
invariant to a shift of ``v``) and the interactions split into positive and negative parts::

    min  Σ_{S≠∅} a⁺_S + a⁻_S + o⁺_S + o⁻_S            (noise q = s - bound, 0 <= s <= 2 bound)
    s.t. Σ_{∅≠S⊆T} (a⁺-a⁻)_S + Σ_{S∩T≠∅} (o⁺-o⁻)_S - s_T + s_∅ = v_T - v_∅      (T ≠ ∅)

Its normal matrix ``A diag(θ) A^T`` is dense (``2**n - 1`` square) but has closed-form
entries: the AND part of the pair ``(T, T')`` is ``Σ_{∅≠S⊆T∩T'} θ_S``, a subset sum read at
``T & T'``, and the OR part follows by inclusion-exclusion from subset sums read at
complements. So an iteration costs a few ``O(n 2**n)`` butterflies, one ``4**n`` gather and
one dense Cholesky factorisation, in float64 on the values' device (batched over samples
on GPUs; on the CPU one sample at a time, single-threaded below ``n = 11``).
The method is Mehrotra's predictor-corrector with separate primal and dual step lengths and
explicit upper bounds (Wright, *Primal-Dual Interior-Point Methods*, SIAM 1997, ch. 10-11);
every solve of the normal equations gets one step of iterative refinement.

>>> v = torch.tensor([[0.0, 1.0, 1.0, 1.0]], dtype=torch.float64)   # an OR of two players
>>> fit = solve(v, torch.zeros(1, dtype=torch.float64), with_or=True)
>>> (fit.o.round(decimals=6) + 0.0).tolist(), fit.iterations < 20
([[0.0, 0.0, 0.0, 1.0]], True)
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import torch

from ._transforms import _subset_sums, _superset_sums
from .exceptions import InteractionError

__all__ = ["IPMSolution", "solve"]


@dataclass
class IPMSolution:
    """Primal and dual solution of a batch of LPs (tensors ``[batch, 2**n]``).

    ``a`` and ``o`` are the net AND and OR interactions of non-empty sets (entry 0 is 0),
    ``q`` the noise and ``y`` the dual of the matching rows (``Σ y = 0``).
    """

    a: torch.Tensor
    o: torch.Tensor
    q: torch.Tensor
    y: torch.Tensor
    iterations: int

    @classmethod
    def concat(cls, parts: list[IPMSolution]) -> IPMSolution:
        """One solution from the solutions of consecutive batch rows."""
        return cls(*(torch.cat([getattr(part, name) for part in parts]) for name in "aoqy"),
                   iterations=max(part.iterations for part in parts))


def _pad(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.pad(x, (1, 0))


@lru_cache(maxsize=4)
def _code_masks(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per ternary code of a mask pair, the masks of its "both" and "neither" bits.

    Per player a pair ``(T, T')`` is in one of three states: in both (digit 1), in neither
    (digit 0) or in one (digit 2). ``T & T'`` and ``N \\ (T | T')`` depend only on the code.
    """
    both = torch.zeros(1, dtype=torch.int64)
    neither = torch.zeros(1, dtype=torch.int64)
    for i in range(n):
        both = torch.cat([both, both | 1 << i, both])  # digits 0, 1, 2 of player i
        neither = torch.cat([neither | 1 << i, neither, neither])
    return both.to(device), neither.to(device)


@lru_cache(maxsize=4)
def _pair_codes(n: int, device: torch.device) -> torch.Tensor:
    """Ternary code (see :func:`_code_masks`) of every mask pair, flattened, with a dummy row."""
    pair = torch.zeros(1, 1, dtype=torch.int64)
    for i in range(n):
        digits = torch.tensor([[0, 2], [2, 1]])  # [bit of T, bit of T'] -> digit
        pair = (pair[None, :, None, :] + 3**i * digits[:, None, :, None]).reshape(
            2 << i, 2 << i
        )
    # One dummy row and column (codes 3**n -> 0 and 3**n + 1 -> 1 off and on the diagonal):
    # a power-of-two leading dimension makes LAPACK's Cholesky up to 2x slower (cache
    # set conflicts), so the matrix is built as [[M, 0], [0, 1]] of size 2**n + 1.
    padded = torch.full((1 + (1 << n), 1 + (1 << n)), 3**n, dtype=torch.int64)
    padded[:-1, :-1] = pair
    padded[-1, -1] = 3**n + 1
    # int32 codes: the gather of 4**n entries per iteration reads half the index bytes.
    return padded.flatten().to(device=device, dtype=torch.int32)


def _row_plan(rows: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_code_masks` and :func:`_pair_codes` for the pairs of ``rows`` only.

    Only the codes that occur are kept (at most ``min(|rows|**2, 3**n)``): returns their
    "both" and "neither" masks and, per pair (with the dummy row), the index of its code.
    """
    ternary = torch.zeros(1, dtype=torch.int64, device=rows.device)
    for i in range(n):  # bit i of a mask -> digit 3**i
        ternary = torch.cat([ternary, ternary + 3**i])
    pair = ternary[rows[:, None] & rows[None, :]] + 2 * ternary[rows[:, None] ^ rows[None, :]]
    padded = torch.nn.functional.pad(pair, (0, 1, 0, 1), value=3**n)
    padded[-1, -1] = 3**n + 1
    codes, index = torch.unique(padded.flatten(), return_inverse=True)
    both, neither = _code_masks(n, rows.device)
    real = codes[:-2]  # the two dummy codes sort last and map to the appended [0, 1]
    return both[real], neither[real], index.to(torch.int32)


class _Problem:
    """Operators of the single-model LP for a batch of value vectors ``[batch, 2**n]``.

    Rows are the masks ``T`` in ``rows`` (all masks when ``None``); the constant of ``v`` is
    a free column of ones (``ξ``), so the AND part of row ``T`` is ``Σ_{∅≠S⊆T} a_S`` and the
    OR part ``-Σ_{∅≠S⊆N\\T} o_S``. Every interaction column is present whatever the rows.
    """

    def __init__(
        self,
        values: torch.Tensor,
        bound: torch.Tensor,
        *,
        with_or: bool,
        rows: torch.Tensor | None = None,
    ) -> None:
        self.n = values.shape[-1].bit_length() - 1
        self.m = values.shape[-1] - 1
        self.rows = rows
        self.plan: tuple[torch.Tensor, ...] | None = None  # the rows' pair codes, built once
        self.with_or = with_or
        self.with_noise = bool((bound > 0).any())
        self.n_interaction = (4 if with_or else 2) * self.m
        rhs = values if rows is None else values[:, rows]
        width = self.n_interaction + (rhs.shape[-1] if self.with_noise else 0)
        self.rhs = rhs
        self.free = rhs.new_ones(rhs.shape[-1], 1)  # the constant ξ enters every row
        self.cost = torch.zeros(values.shape[0], width, dtype=values.dtype, device=values.device)
        self.cost[:, : self.n_interaction] = 1
        self.upper = torch.full_like(self.cost, float("inf"))
        if self.with_noise:
            self.upper[:, self.n_interaction :] = 2 * bound[:, None]
            self.rhs = rhs - bound[:, None]  # q = s - bound

    def shift_free_(self, normal: torch.Tensor) -> torch.Tensor:
        """``ρ [batch, 1]`` after adding ``ρ F F^T`` to ``normal`` in place (see :func:`_mehrotra`);
        this LP's normal matrix is regular as it is, so ``ρ = 0``."""
        return normal.new_zeros(len(normal), 1)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Net AND and OR interactions (padded to ``2**n``) and the shifted noise ``s``."""
        m = self.m
        a = _pad(x[:, :m] - x[:, m : 2 * m])
        o = _pad(x[:, 2 * m : 3 * m] - x[:, 3 * m : 4 * m]) if self.with_or else None
        s = x[:, self.n_interaction :] if self.with_noise else None
        return a, o, s

    def interaction_rows(self, x: torch.Tensor) -> torch.Tensor:
        """The interaction part of every row over all ``2**n`` masks (no noise)."""
        a, o, _ = self.split(x)
        out = _subset_sums(a, self.n)
        if o is not None:
            out -= _subset_sums(o, self.n).flip(-1)
        return out

    def matvec(self, x: torch.Tensor) -> torch.Tensor:
        out = self.interaction_rows(x)
        if self.rows is not None:
            out = out[:, self.rows]
        if self.with_noise:
            out -= x[:, self.n_interaction :]
        return out

    def full_duals(self, y: torch.Tensor) -> torch.Tensor:
        """Row duals spread over all ``2**n`` masks (zero outside ``rows``)."""
        if self.rows is None:
            return y
        return y.new_zeros(y.shape[0], self.m + 1).index_copy_(-1, self.rows, y)

    def rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        noise = y
        y = self.full_duals(y)
        up = _superset_sums(y, self.n)[:, 1:]  # Σ_{T⊇S} y_T
        parts = [up, -up]
        if self.with_or:
            down = _subset_sums(y, self.n).flip(-1)[:, 1:]  # Σ_{T⊆N\\S} y_T
            parts += [-down, down]
        if self.with_noise:
            parts.append(-noise)
        return torch.cat(parts, dim=-1)

    def normal(self, theta: torch.Tensor) -> torch.Tensor:
        """``[[A diag(θ) A^T, 0], [0, 1]]``, dense ``[batch, rows + 1, rows + 1]`` (one gather)."""
        m, n = self.m, self.n
        if self.rows is None:
            both, neither = _code_masks(n, theta.device)
            pair = _pair_codes(n, theta.device)
        else:
            if self.plan is None:
                self.plan = _row_plan(self.rows, n)
            both, neither, pair = self.plan
        table = _subset_sums(_pad(theta[:, :m] + theta[:, m : 2 * m]), n)[:, both]
        if self.with_or:
            sums = _subset_sums(_pad(theta[:, 2 * m : 3 * m] + theta[:, 3 * m : 4 * m]), n)
            table += sums[:, neither]
        table = torch.cat([table, torch.tensor([0.0, 1.0]).to(table).expand(len(table), 2)], -1)
        size = self.rhs.shape[-1] + 1
        matrix = table.index_select(-1, pair).view(-1, size, size)
        if self.with_noise:
            matrix.diagonal(dim1=-2, dim2=-1)[:, :-1].add_(theta[:, self.n_interaction :])
        return matrix


def _cholesky(matrix: torch.Tensor) -> torch.Tensor:
    """Cholesky factors; rows whose matrix is numerically singular get a tiny diagonal shift."""
    factor, info = torch.linalg.cholesky_ex(matrix)
    shift = 1e-14
    while bool((info > 0).any()):
        if shift > 1e-6:
            raise InteractionError(
                "the interior-point normal equations are singular even after regularisation; "
                "use solver='highs' or solver='pdhg' for these values"
            )
        scale = matrix.diagonal(dim1=-2, dim2=-1).abs().amax(-1) * shift
        matrix = matrix + torch.diag_embed(scale[:, None].expand(-1, matrix.shape[-1]))
        factor, info = torch.linalg.cholesky_ex(matrix)
        shift *= 100
    return factor


def _solve(factor: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Solve ``L L^T x = rhs`` for a batch of vectors ``[batch, size]`` or of matrices
    ``[batch, size, k]`` (zero-padded to ``L``'s size)."""
    vector = rhs.dim() == 2
    rhs = rhs.unsqueeze(-1) if vector else rhs
    size = rhs.shape[-2]
    padded = torch.nn.functional.pad(rhs, (0, 0, 0, factor.shape[-1] - size))
    half = torch.linalg.solve_triangular(factor, padded, upper=False)
    out = torch.linalg.solve_triangular(factor.mT, half, upper=True)[:, :size]
    return out[..., 0] if vector else out


@contextmanager
def _cpu_threads(device: torch.device, size: int):
    """One intra-op thread on the CPU for normal matrices below 2049 rows.

    Factorisations that small gain little from threads, and the triangular solves with one
    right-hand side are memory-bound: threaded BLAS spends their time on thread barriers
    (measured 2x slower per iteration overall, up to 1000x per solve on a busy machine).
    """
    threads = torch.get_num_threads()
    limit = device.type == "cpu" and size < 2049 and threads > 1
    if limit:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if limit:
            torch.set_num_threads(threads)


def _step(value: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Largest ``α <= 1`` keeping ``value + α delta >= 0``, per batch row."""
    ratio = torch.where(delta < 0, -value / delta, torch.full_like(value, float("inf")))
    return ratio.amin(-1).clamp(max=1.0)


@dataclass
class _Newton:
    """One iteration's factorised normal equations and the current iterate."""

    problem: _Problem
    x: torch.Tensor
    s: torch.Tensor
    z: torch.Tensor
    w: torch.Tensor
    on: torch.Tensor
    theta: torch.Tensor
    factor: torch.Tensor
    m_free: torch.Tensor  # M^{-1} F, for the free columns ξ
    schur: torch.Tensor  # F^T M^{-1} F
    shift: torch.Tensor  # ρ [batch, 1]: the factorised matrix is M + ρ F F^T
    r_p: torch.Tensor
    r_d: torch.Tensor
    r_u: torch.Tensor
    r_xi: torch.Tensor

    def direction(self, r_xz: torch.Tensor, r_sw: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Newton step ``(dx, dξ, dy, dz, ds, dw)`` for complementarity targets ``r_xz, r_sw``."""
        problem, x, s, z, w, on, theta = (
            self.problem, self.x, self.s, self.z, self.w, self.on, self.theta
        )
        rho = self.r_d - r_xz / x + (r_sw - w * self.r_u) * on / s
        rhs = self.r_p + problem.matvec(theta * rho)
        free = problem.free
        dy = _solve(self.factor, rhs)
        product = problem.matvec(theta * problem.rmatvec(dy)) + self.shift * (dy @ free) @ free.T
        dy += _solve(self.factor, rhs - product)
        dxi = torch.linalg.solve(self.schur, dy @ free - self.r_xi)
        dy -= (self.m_free @ dxi[..., None])[..., 0]
        dxi += self.shift * self.r_xi  # F^T dy = r_ξ undoes the shift
        dx = theta * (problem.rmatvec(dy) - rho)
        ds = (self.r_u - dx) * on
        return dx, dxi, dy, (r_xz - z * dx) / x, ds, (r_sw - w * ds) * on / s

    def lengths(self, dx, dz, ds, dw) -> tuple[torch.Tensor, torch.Tensor]:
        """Largest primal and dual step lengths (at most 1) that keep the iterate positive."""
        bounded = self.on > 0
        safe_s, safe_w = torch.where(bounded, self.s, 1), torch.where(bounded, self.w, 1)
        return (
            torch.minimum(_step(self.x, dx), _step(safe_s, ds)),
            torch.minimum(_step(self.z, dz), _step(safe_w, dw)),
        )


def _mehrotra(problem: _Problem, *, tol: float, max_iter: int, patience: int = 5):
    """Predictor-corrector iterations; returns the best iterate ``(x, y, ξ)`` of every row
    and the iteration count.

    The free columns ``ξ`` (``problem.free``: ``F``, rows x free columns, all ones for one
    constant) enter the normal equations as bordering rows:
    ``[[M, F], [F^T, 0]] [Δy; Δξ] = [rhs; r_ξ]``, solved with ``M^{-1} F``.
    """
    c, r = problem.cost, problem.rhs
    bounded = torch.isfinite(problem.upper)
    u = torch.where(bounded, problem.upper, torch.zeros_like(c))
    on = bounded.to(c.dtype)  # 1 for columns with an upper bound
    x = torch.where(bounded, u / 2, torch.ones_like(c))
    s = torch.where(bounded, u / 2, torch.ones_like(c))  # upper slack u - x
    z = torch.ones_like(c)
    w = on.clone()
    y = torch.zeros_like(r)
    free = problem.free
    xi = r.new_zeros(r.shape[0], free.shape[-1])
    n_pairs = (x.shape[-1] + bounded.sum(-1)).to(c.dtype)
    best_x, best_y, best_xi = x.clone(), y.clone(), xi.clone()
    best_err = torch.full_like(r[:, 0], float("inf"))
    stale = torch.zeros_like(best_err, dtype=torch.int64)
    scale_r = 1 + r.abs().amax(-1)
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007
        r_p = r - problem.matvec(x) - xi @ free.T
        r_d = c - problem.rmatvec(y) - z + w
        r_xi = -y @ free
        r_u = (u - x - s) * on
        primal = (c * x).sum(-1)
        dual = (r * y).sum(-1) - (u * w).sum(-1)
        err = torch.stack(
            [
                (primal - dual).abs() / (1 + primal.abs()),
                r_p.abs().amax(-1) / scale_r,
                torch.maximum(r_d.abs().amax(-1), r_xi.abs().amax(-1)),
                r_u.abs().amax(-1) / scale_r,
            ]
        ).amax(0)
        better = err < best_err
        best_x = torch.where(better[:, None], x, best_x)
        best_y = torch.where(better[:, None], y, best_y)
        best_xi = torch.where(better[:, None], xi, best_xi)
        # Stalls count only near the optimum (numerical limits); far from it the gap may
        # rise for a few iterations while the iterate becomes feasible.
        stale = torch.where(better | (best_err > tol**0.5), 0, stale + 1)
        best_err = torch.minimum(err, best_err)
        live = (best_err >= tol) & (stale < patience)
        if not bool(live.any()):
            break
        mu = ((x * z).sum(-1) + (s * w * on).sum(-1)) / n_pairs
        theta = 1 / (z / x + w * on / s)
        normal = problem.normal(theta)
        # M can be singular where [A F] is not (no slack columns): M + ρ F F^T is not, and
        # the bordered system with it has the same Δy (Δξ moves by ρ r_ξ).
        shift = problem.shift_free_(normal)
        factor = _cholesky(normal)
        m_free = _solve(factor, free.expand(len(r), -1, -1))
        schur = free.T @ m_free
        newton = _Newton(problem, x, s, z, w, on, theta, factor, m_free, schur, shift, r_p, r_d,
                         r_u, r_xi)
        dx, _, _, dz, ds, dw = newton.direction(-x * z, -s * w * on)  # affine-scaling predictor
        alpha_p, alpha_d = newton.lengths(dx, dz, ds, dw)
        ap, ad = alpha_p[:, None], alpha_d[:, None]
        mu_aff = (
            ((x + ap * dx) * (z + ad * dz)).sum(-1)
            + ((s + ap * ds) * (w + ad * dw) * on).sum(-1)
        ) / n_pairs
        sigma_mu = ((mu_aff / mu).clamp(0, 1) ** 3 * mu)[:, None]
        dx, dxi, dy, dz, ds, dw = newton.direction(  # centring corrector
            sigma_mu - x * z - dx * dz, (sigma_mu - s * w - ds * dw) * on
        )
        alpha_p, alpha_d = newton.lengths(dx, dz, ds, dw)
        ap = (0.995 * alpha_p * live)[:, None]
        ad = (0.995 * alpha_d * live)[:, None]
        x, s, xi = x + ap * dx, torch.where(bounded, s + ap * ds, s), xi + ap * dxi
        y, z, w = y + ad * dy, z + ad * dz, torch.where(bounded, w + ad * dw, w)
    return best_x, best_y, best_xi, iteration


def solve(
    values: torch.Tensor,
    bound: torch.Tensor,
    *,
    with_or: bool,
    tol: float = 1e-8,
    max_iter: int = 100,
) -> IPMSolution:
    """Solve the extraction LP (AND+OR, or AND only) for every row of ``values``.

    Args:
        values (Tensor): ``[batch, 2**n]`` float64, ``n >= 1``.
        bound (Tensor): ``[batch]`` noise bounds (``>= 0``).
        with_or (bool): learn OR interactions too (mode ``"and_or"``), else AND only.
        tol (float): relative gap and infeasibility at which a row stops.
        max_iter (int): iteration limit.
    """
    if values.device.type == "cpu" and values.shape[0] > 1:
        # On the CPU a batch gains nothing (LAPACK factorises one matrix at a time) and
        # rows that converge early would keep iterating: solve them one by one.
        parts = [solve(values[row : row + 1], bound[row : row + 1], with_or=with_or, tol=tol,
                       max_iter=max_iter) for row in range(values.shape[0])]
        return IPMSolution.concat(parts)
    # Unit scale keeps the default starting point and tolerances meaningful.
    centred = values - values[:, :1]
    scale = centred.abs().amax(-1).clamp(min=1e-300)
    problem = _Problem(centred / scale[:, None], bound / scale, with_or=with_or)
    with _cpu_threads(values.device, values.shape[-1]):
        x, y, _, iterations = _mehrotra(problem, tol=tol, max_iter=max_iter)
    a, o, s = problem.split(x * scale[:, None])
    q = s - bound[:, None] if s is not None else torch.zeros_like(a)
    return IPMSolution(a, o if o is not None else torch.zeros_like(a), q, y, iterations)
