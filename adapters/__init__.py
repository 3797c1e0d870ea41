"""Language-model back ends: embedding-level masking, words as players, baselines.

Back ends evaluate ``v(T)`` for batches of masks on the model's own device:
:class:`HuggingFaceAdapter` (causal LMs via ``inputs_embeds``) and
:class:`TransformerLensAdapter` (any model with a ``hook_embed`` hook point). The text front
end :class:`LLMInteractions` turns a prompt into word players, a target and an
:class:`~captum_interactions.InteractionResult`; :meth:`LLMInteractions.game` gives the
value function of one prompt, which :class:`~captum_interactions.adapters.shapiq_game.LLMGame`
hands to shapiq's approximators. Importing this package imports neither transformers,
transformer_lens nor shapiq.
"""

from __future__ import annotations

from .base import LanguageModelAdapter, Prompt
from .huggingface import HuggingFaceAdapter
from .learned_baseline import LearnedBaseline, interaction_loss, train_baseline
from .llm import LLMInteractions, PromptGame
from .pretrained import PRETRAINED_MODELS, load_pretrained
from .targets import TargetError
from .text import PlayerError, PlayerWarning, select_players
from .transformer_lens import TransformerLensAdapter

__all__ = [
    "PRETRAINED_MODELS",
    "HuggingFaceAdapter",
    "LLMInteractions",
    "LanguageModelAdapter",
    "LearnedBaseline",
    "PlayerError",
    "PlayerWarning",
    "Prompt",
    "PromptGame",
    "TargetError",
    "TransformerLensAdapter",
    "interaction_loss",
    "load_pretrained",
    "select_players",
    "train_baseline",
]
