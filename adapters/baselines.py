"""Baselines: the one vector that replaces the embeddings of absent players.

A baseline lives in the space that masking replaces: the output of the model's token embedding
layer, exactly as real tokens arrive there (for Gemma 3, after its ``sqrt(d_model)`` scaling),
before positions are added. Token baselines are therefore embedded through the same path as
the prompt's tokens. Valid specs:

- ``"pad"``, ``"unk"``, ``"bos"``, ``"eos"``: the embedding of the tokenizer's special token;
- ``"zero"``: the zero vector;
- ``"mean"``: the mean embedding over the tokenizer's vocabulary;
- an ``int``: the embedding of that token id;
- any other ``str``: one entry of the tokenizer's vocabulary (e.g. ``"<|endoftext|>"``);
- a ``Tensor`` of shape ``[d_model]``: a vector of your own, such as the learned baseline of
  ``train_baseline``.

>>> table = torch.eye(3)
>>> spec = dict(embed=lambda ids: table[ids], tokenizer=None, vocab_size=3, d_model=3)
>>> baseline_vector("zero", **spec)
tensor([0., 0., 0.])
>>> baseline_vector(1, **spec), describe_baseline(1)
(tensor([0., 1., 0.]), 'token:1')
>>> baseline_vector("mean", **spec)
tensor([0.3333, 0.3333, 0.3333])
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from captum_interactions.exceptions import InteractionError

__all__ = ["NAMED_BASELINES", "BaselineSpec", "baseline_vector", "describe_baseline"]

#: A baseline: a name from :data:`NAMED_BASELINES`, a token id, a vocabulary entry or a vector.
BaselineSpec = str | int | torch.Tensor

#: Baselines given by name.
NAMED_BASELINES = ("pad", "unk", "bos", "eos", "zero", "mean")

_SPECIAL = ("pad", "unk", "bos", "eos")
_MEAN_CHUNK = 8192
_VALID = (
    f"one of {', '.join(repr(name) for name in NAMED_BASELINES)}, a token id (int), "
    "a token string from the tokenizer's vocabulary, or a Tensor of shape [d_model]"
)


def describe_baseline(spec: BaselineSpec) -> str:
    """A short, JSON-friendly label of a baseline spec, recorded with results.

    >>> describe_baseline("pad"), describe_baseline("Ġthe"), describe_baseline(torch.ones(4))
    ('pad', "token:'Ġthe'", 'vector[4]')
    """
    if isinstance(spec, torch.Tensor):
        return f"vector[{spec.shape[-1] if spec.ndim else 0}]"
    if isinstance(spec, str) and spec in NAMED_BASELINES:
        return spec
    return f"token:{spec!r}" if isinstance(spec, str) else f"token:{spec}"


def baseline_vector(
    spec: BaselineSpec,
    *,
    embed: Callable[[torch.Tensor], torch.Tensor],
    tokenizer,
    vocab_size: int,
    d_model: int,
) -> torch.Tensor:
    """The ``[d_model]`` vector named by ``spec`` (see the module docstring for valid specs).

    Args:
        spec: the baseline.
        embed: maps int64 token ids ``[N]`` to their embeddings ``[N, d_model]``, on the model's
            device, through the model's own embedding path.
        tokenizer: the model's tokenizer (for special tokens and vocabulary entries).
        vocab_size: number of rows of the model's embedding table.
        d_model: embedding width.

    Returns:
        Tensor ``[d_model]`` on the device and in the dtype of ``embed``'s output; a user vector
        is checked and returned as given.
    """
    if isinstance(spec, torch.Tensor):
        return _user_vector(spec, d_model)
    if isinstance(spec, bool) or not isinstance(spec, (str, int)):
        raise TypeError(f"baseline must be {_VALID}; got {type(spec).__name__}")
    if spec == "zero":
        return torch.zeros_like(_embed_one(embed, 0))
    if spec == "mean":
        return _mean_embedding(embed, tokenizer, vocab_size)
    return _embed_one(embed, _token_id(spec, tokenizer, vocab_size))


def _embed_one(embed: Callable[[torch.Tensor], torch.Tensor], token: int) -> torch.Tensor:
    return embed(torch.tensor([token], dtype=torch.long))[0]


def _token_id(spec: str | int, tokenizer, vocab_size: int) -> int:
    if isinstance(spec, int):
        token = spec
    elif spec in _SPECIAL:
        token = getattr(tokenizer, f"{spec}_token_id", None)
        if token is None:
            others = [name for name in NAMED_BASELINES if name != spec]
            raise InteractionError(
                f"baseline {spec!r} needs a {spec} token, but the tokenizer has none. "
                f"Choose another baseline ({', '.join(map(repr, others))}, a token id or a "
                f"vector), or set tokenizer.{spec}_token first."
            )
    else:
        token = tokenizer.get_vocab().get(spec)
        if token is None:
            raise InteractionError(
                f"baseline {spec!r} is neither a named baseline nor a token of the vocabulary; "
                f"expected {_VALID}"
            )
    if not 0 <= token < vocab_size:
        raise InteractionError(
            f"baseline token id {token} is outside the model's vocabulary [0, {vocab_size}); "
            f"expected {_VALID}"
        )
    return token


def _mean_embedding(
    embed: Callable[[torch.Tensor], torch.Tensor], tokenizer, vocab_size: int
) -> torch.Tensor:
    count = vocab_size if tokenizer is None else min(len(tokenizer), vocab_size)
    total = None
    for start in range(0, count, _MEAN_CHUNK):
        ids = torch.arange(start, min(start + _MEAN_CHUNK, count))
        chunk = embed(ids)
        part = chunk.double().sum(0)
        total = part if total is None else total + part
    return (total / count).to(chunk.dtype)


def _user_vector(vector: torch.Tensor, d_model: int) -> torch.Tensor:
    if vector.ndim != 1 or vector.shape[0] != d_model or not vector.is_floating_point():
        raise InteractionError(
            f"a baseline vector must be a floating-point Tensor of shape [{d_model}] (d_model); "
            f"got dtype {vector.dtype} and shape {list(vector.shape)}"
        )
    if not bool(torch.isfinite(vector.detach()).all()):
        raise InteractionError("the baseline vector contains NaN or infinite entries")
    return vector
