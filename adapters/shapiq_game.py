"""A shapiq ``Game`` of one prompt, so shapiq's approximators run on our masking.

:class:`LLMGame` is a ``shapiq.Game`` whose value function is
:meth:`LLMInteractions.game <captum_interactions.adapters.LLMInteractions.game>`: the
coalitions shapiq asks for are evaluated as one batch of bitmasks by the adapter, with
embedding-level masking and prefix sharing, and the values are exactly those of
:meth:`LLMInteractions.attribute` (the same players, target, baseline and value). This module
needs shapiq (``pip install 'captum-interactions[shapiq]'``); the rest of the adapters do not
import it.

Example (with a model loaded as in :mod:`captum_interactions.adapters.llm`)::

    explainer = LLMInteractions(adapter)
    game = LLMGame(explainer.game("The Eiffel Tower is in the city of", n_players=12))
    approximator = shapiq.KernelSHAPIQ(n=game.n_players, max_order=2, index="k-SII")
    values = approximator.approximate(budget=512, game=game)    # 512 masked passes, not 4096
"""

from __future__ import annotations

import numpy as np
import torch

from captum_interactions._optional import require

from .llm import PromptGame

__all__ = ["LLMGame"]

_shapiq = require("shapiq", purpose="captum_interactions.adapters.shapiq_game")


class LLMGame(_shapiq.Game):
    """``v(T)`` of one prompt as a ``shapiq.Game`` (players are the prompt's words).

    Args:
        prompt_game (PromptGame): the prompt's value function, from
            :meth:`LLMInteractions.game` (players, target, baseline and value resolved there,
            as in :meth:`LLMInteractions.attribute`).
        normalize (bool): shapiq's convention (default): subtract ``v(∅)`` so the empty
            coalition is worth 0 (one forward pass at creation); ``False`` keeps ``v``.
        show_progress (bool): progress bars over the masked forward passes (shapiq's own
            ``verbose`` would evaluate one coalition per call, so it stays off).
    """

    def __init__(self, prompt_game: PromptGame, *, normalize: bool = True,
                 show_progress: bool = False) -> None:
        if not isinstance(prompt_game, PromptGame):
            raise TypeError(f"LLMGame wraps a PromptGame, made by LLMInteractions(adapter)."
                            f"game(prompt, ...); got {type(prompt_game).__name__}")
        self.prompt_game = prompt_game
        self.show_progress = show_progress
        empty = float(prompt_game(torch.zeros(1, dtype=torch.long))[0]) if normalize else 0.0
        super().__init__(prompt_game.n_players, normalize=normalize, normalization_value=empty,
                         player_names=list(prompt_game.players))

    def value_function(self, coalitions: np.ndarray) -> np.ndarray:
        """``v`` of boolean coalitions ``(n_coalitions, n_players)``, one batch of masks."""
        bits = np.left_shift(1, np.arange(self.n_players, dtype=np.int64))
        masks = torch.from_numpy(np.asarray(coalitions, dtype=bool) @ bits)
        return self.prompt_game(masks, show_progress=self.show_progress).numpy()
