"""Independent oracles: the transforms and the extraction LP straight from their definitions
(O(3**n) loops and dense matrices), to check the library's fast code against."""

from __future__ import annotations

import numpy as np
import scipy.optimize
import torch

from captum_interactions.values import log_odds

__all__ = [
    "brute_and",
    "brute_or",
    "dense_lp_optimum",
    "lab_sgd",
    "masked_logits",
    "substituted_log_odds",
]


def brute_and(values: torch.Tensor) -> torch.Tensor:
    """Harsanyi dividends by the definition: a sum over all subsets of every S."""
    size = values.shape[-1]
    out = torch.zeros_like(values)
    for s in range(size):
        sub = s
        while True:  # all L ⊆ S
            sign = -1 if (s.bit_count() - sub.bit_count()) % 2 else 1
            out[..., s] += sign * values[..., sub]
            if sub == 0:
                break
            sub = (sub - 1) & s
    return out


def brute_or(values: torch.Tensor) -> torch.Tensor:
    """OR interactions by the definition in DESIGN section 2."""
    size = values.shape[-1]
    full = size - 1
    out = torch.zeros_like(values)
    for s in range(1, size):
        sub = s
        while True:
            sign = -1 if (s.bit_count() - sub.bit_count()) % 2 else 1
            out[..., s] -= sign * values[..., full ^ sub]
            if sub == 0:
                break
            sub = (sub - 1) & s
    out[..., 0] = values[..., 0]
    return out


def dense_lp_optimum(values: torch.Tensor, bound: float) -> float:
    """The extraction optimum from a dense LP over (p, q) built from the definitions.

    min Σ_{S≠∅} t_S + u_S  s.t.  ±A(½(v+q) + p) <= t,  ±B(½(v+q) - p) <= u,  |q| <= bound,
    with A and B the brute-force AND and OR transforms applied to unit vectors.
    """
    size = values.shape[-1]
    eye = torch.eye(size, dtype=torch.float64)
    and_matrix = brute_and(eye).T.numpy()  # column j = transform of e_j
    or_matrix = brute_or(eye).T.numpy()
    v = values.numpy()
    rows = slice(1, None)  # the empty set is not in the objective
    a, b = and_matrix[rows], or_matrix[rows]
    k = size - 1
    zeros = np.zeros((k, k))
    # variables: p (size), q (size), t (k), u (k)
    blocks = []
    rhs = []
    for sign in (1, -1):
        blocks.append(np.hstack([sign * a, sign * a / 2, -np.eye(k), zeros]))
        rhs.append(-sign * a @ v / 2)
        blocks.append(np.hstack([-sign * b, sign * b / 2, zeros, -np.eye(k)]))
        rhs.append(-sign * b @ v / 2)
    cost = np.r_[np.zeros(2 * size), np.ones(2 * k)]
    bounds = [(None, None)] * size + [(-bound, bound)] * size + [(0, None)] * (2 * k)
    result = scipy.optimize.linprog(
        cost, A_ub=np.vstack(blocks), b_ub=np.concatenate(rhs), bounds=bounds, method="highs"
    )
    assert result.status == 0
    return result.fun


def lab_sgd(values: torch.Tensor, bound: torch.Tensor, *, lr: float, iterations: int,
            schedule: str, p_bound: torch.Tensor | None = None, alpha: float = 0.0,
            momentum: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
    """The lab's projected SGD recipe with autograd and ``torch.optim.SGD`` over dense
    transform matrices: ``values [M, 2**n]``; returns ``(p, q)``, each ``[M, 2**n]``.

    Every iteration but the last clips the bounded variables and takes one step; the loss is
    ``(1-α) max_m |I^m(S)| + α Σ_m |I^m(S)|`` over ``S ≠ ∅`` for AND and OR (one model: the
    L1 loss). With ``p_bound`` the models share a free ``p̄`` plus bounded parts ``p_m``.
    """
    size = values.shape[-1]
    eye = torch.eye(size, dtype=torch.float64)
    and_matrix, or_matrix = brute_and(eye).T, brute_or(eye).T
    joint = p_bound is not None
    part = torch.zeros_like(values, requires_grad=True)
    shared = torch.zeros(1, size, dtype=torch.float64, requires_grad=True)
    q = torch.zeros_like(values, requires_grad=True)
    optimiser = torch.optim.SGD([part, q, *([shared] if joint else [])], lr=lr,
                                momentum=momentum)
    rates = (torch.full((iterations,), lr, dtype=torch.float64) if schedule == "constant"
             else lr * torch.logspace(0, -1, iterations, dtype=torch.float64))
    for rate in rates[:-1].tolist():
        with torch.no_grad():
            q.copy_(torch.maximum(torch.minimum(q, bound[:, None]), -bound[:, None]))
            if joint:
                part.copy_(torch.maximum(torch.minimum(part, p_bound[:, None]),
                                         -p_bound[:, None]))
        for group in optimiser.param_groups:
            group["lr"] = rate
        p = part + shared if joint else part
        half = (values + q) / 2
        loss = 0
        for interactions in ((half + p) @ and_matrix.T, (half - p) @ or_matrix.T):
            magnitude = interactions[:, 1:].abs()
            loss = loss + ((1 - alpha) * magnitude.amax(0) + alpha * magnitude.sum(0)).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        q = torch.maximum(torch.minimum(q, bound[:, None]), -bound[:, None])
        if joint:
            part = torch.maximum(torch.minimum(part, p_bound[:, None]), -p_bound[:, None])
        p = part + shared if joint else part
    return p.detach(), q.detach()


def masked_logits(model, input_ids, positions, masks, baseline_id) -> torch.Tensor:
    """Logits ``[masks, L, V]`` (float64) of a HuggingFace causal LM run on hand-masked
    embeddings, no adapter code involved: for every mask (bit ``i`` = player ``i``
    present), the token embeddings at an absent player's ``positions`` are replaced by the
    embedding of ``baseline_id``."""
    embed = model.get_input_embeddings()
    ids = torch.as_tensor(input_ids)
    with torch.no_grad():
        clean = embed(ids[None])[0]
        fill = embed(torch.tensor([[baseline_id]]))[0, 0]
        rows = []
        for mask in masks:
            row = clean.clone()
            for player, found in enumerate(positions):
                if not mask >> player & 1:
                    row[list(found)] = fill
            rows.append(row)
        return model(inputs_embeds=torch.stack(rows)).logits.double()


def substituted_log_odds(run, ids, players, masks, token, target) -> torch.Tensor:
    """Log-odds (float64) of ``target`` at the last position, one per mask, from ``run`` (token
    ids ``[B, L]`` -> logits ``[B, L, V]``, or an output with ``.logits`` as a HuggingFace
    model's) on token ids with absent players' tokens replaced by ``token``: masking by
    substitution, no embeddings or hooks involved."""
    batch = ids.repeat(len(masks), 1)
    for row, mask in enumerate(masks.tolist()):
        for i, positions in enumerate(players):
            if not (mask >> i) & 1:
                batch[row, positions] = token
    with torch.no_grad():
        out = run(batch)
        logits = getattr(out, "logits", out)[:, -1]
    return log_odds(logits, torch.full((len(masks),), target)).double()
