"""The interior-point engine behind solvers ``"ipm"``, ``"working_set"`` and the joint ``"ipm"``.

:func:`mehrotra` solves any LP that implements :class:`LinearProgram`::

    min c·x   s.t.   A x + F ξ = b,   0 <= x <= u   (u may be inf),   ξ free

with Mehrotra's predictor-corrector, separate primal and dual step lengths and explicit upper
bounds (Wright, *Primal-Dual Interior-Point Methods*, SIAM 1997, ch. 10-11), batched over
independent LPs of the same shape. Every solve of the normal equations ``A diag(θ) A^T``
gets one step of iterative refinement. The extraction LPs never form ``A``: their normal
matrices have closed-form entries read from subset-sum tables at the ternary code of each
mask pair (:func:`code_masks`, :func:`pair_codes`, :func:`row_plan`), so an iteration costs
a few ``O(n 2**n)`` butterflies, one gather and one dense Cholesky factorisation, in float64
on the values' device.

>>> code_masks(1, torch.device("cpu"))   # digits 0 (neither), 1 (both), 2 (one of the two)
(tensor([0, 1, 0]), tensor([1, 0, 0]))
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Protocol

import torch
from tqdm.auto import tqdm

from captum_interactions.exceptions import InteractionError

__all__ = [
    "IPMResult",
    "LinearProgram",
    "code_masks",
    "mehrotra",
    "pad_empty",
    "pair_codes",
    "row_plan",
]


class LinearProgram(Protocol):
    """What :func:`mehrotra` needs of an LP (a batch of ``B`` LPs of one shape).

    Attributes:
        cost (Tensor): ``c``, ``[B, columns]``.
        upper (Tensor): ``u``, ``[B, columns]``, ``inf`` for columns without an upper bound.
        rhs (Tensor): ``b``, ``[B, rows]``.
        free (Tensor): ``F``, ``[rows, k]``: how the ``k`` free columns ``ξ`` enter the rows.
    """

    cost: torch.Tensor
    upper: torch.Tensor
    rhs: torch.Tensor
    free: torch.Tensor

    def matvec(self, x: torch.Tensor) -> torch.Tensor:
        """``A x``: ``[B, columns] -> [B, rows]``."""

    def rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        """``A^T y``: ``[B, rows] -> [B, columns]``."""

    def normal(self, theta: torch.Tensor) -> torch.Tensor:
        """``[[A diag(θ) A^T, 0], [0, 1]]``, dense ``[B, rows + 1, rows + 1]`` (the dummy last
        row keeps the leading dimension off a power of two, see :func:`pair_codes`)."""

    def shift_free_(self, normal: torch.Tensor) -> torch.Tensor:
        """Add ``ρ F F^T`` to ``normal`` in place where ``A`` alone may be rank-deficient
        (``[A F]`` is not); return ``ρ`` ``[B, 1]`` (zeros when nothing was added)."""


def pad_empty(x: torch.Tensor) -> torch.Tensor:
    """``x`` with a zero entry for the empty set in front (solvers keep non-empty sets only)."""
    return torch.nn.functional.pad(x, (1, 0))


@lru_cache(maxsize=4)
def code_masks(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
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
def pair_codes(n: int, device: torch.device) -> torch.Tensor:
    """Ternary code (see :func:`code_masks`) of every mask pair, flattened, with a dummy row."""
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


def row_plan(rows: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`code_masks` and :func:`pair_codes` for the pairs of ``rows`` only.

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
    both, neither = code_masks(n, rows.device)
    real = codes[:-2]  # the two dummy codes sort last and map to the appended [0, 1]
    return both[real], neither[real], index.to(torch.int32)


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


def _step(value: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Largest ``α <= 1`` keeping ``value + α delta >= 0``, per batch row."""
    ratio = torch.where(delta < 0, -value / delta, torch.full_like(value, float("inf")))
    return ratio.amin(-1).clamp(max=1.0)


@dataclass
class _Newton:
    """One iteration's factorised normal equations and the current iterate."""

    problem: LinearProgram
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


class IPMResult(NamedTuple):
    """The best iterate ``(x, y, ξ)`` of every LP, the iterations run and, per LP, whether
    it converged: its error fell below ``tol``, or it stalled at the numerical limit near the
    optimum (error below ``sqrt(tol)``); not after running out of iterations further away."""

    x: torch.Tensor
    y: torch.Tensor
    xi: torch.Tensor
    iterations: int
    converged: torch.Tensor


def mehrotra(
    problem: LinearProgram,
    *,
    tol: float,
    max_iter: int,
    patience: int = 5,
    progress: tqdm | None = None,
    deadline: float | None = None,
) -> IPMResult:
    """Predictor-corrector iterations on every LP of the batch.

    Every LP stops when its relative gap and infeasibilities fall below ``tol``, or after
    ``patience`` iterations without progress near the optimum; all stop at ``deadline``
    (:func:`time.monotonic`), unconverged. ``progress`` (a tqdm bar) is advanced once per
    iteration with the worst error so far.

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
        if progress is not None:
            progress.update()
            progress.set_postfix(error=f"{float(best_err.max()):.1e}", refresh=False)
        live = (best_err >= tol) & (stale < patience)
        if not bool(live.any()) or (deadline is not None and time.monotonic() > deadline):
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
    converged = (best_err < tol) | ((stale >= patience) & (best_err < tol**0.5))
    return IPMResult(best_x, best_y, best_xi, iteration, converged)


