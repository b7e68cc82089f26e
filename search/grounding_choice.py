"""Which grounding a query uses, and refusing checkpoints trained on other features.

A library stores its default under the ``grounding`` setting (``vsearch config set grounding
RUN_DIR``); ``--grounding`` overrides it per query. ``"none"`` (or nothing configured) selects the
training-free grounding of :mod:`search.training_free`. A checkpoint is only used on a library
whose clips came from the encoder (name, model id, dimension) and clip length it was trained on:
anything else would feed the model features from another embedding space.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from indexer.encoders.registry import EncoderIdentity

GROUNDING_SETTING = "grounding"
TRAINING_FREE = "none"


class GroundingMismatchError(ValueError):
    """The grounding checkpoint was trained on features other than the library's."""


def is_training_free(choice: str | None) -> bool:
    """True for no choice, an empty one or ``"none"`` (any case)."""
    return choice is None or choice.strip().lower() in ("", TRAINING_FREE)


def load_grounder(run_dir: Path, identity: EncoderIdentity, device: str) -> Any:
    """``grounding.predictor.Grounder.from_checkpoint`` after checking its features fit the library.

    The compatibility check reads only ``config.json``, so a mismatched checkpoint is refused before
    any weights are loaded. ``device`` ``auto`` resolves to CUDA when available.
    """
    from grounding.checkpoint import read_meta
    from grounding.predictor import Grounder

    check_grounder_compatible(read_meta(run_dir), identity, str(run_dir))
    return Grounder.from_checkpoint(run_dir, device=device)


def check_grounder_compatible(meta: Any, identity: EncoderIdentity, run_dir: str) -> None:
    """Refuse a checkpoint trained on other features than the library's, naming both.

    meta is a ``grounding.checkpoint.CheckpointMeta`` (video_dim, clip_seconds, encoder identity dict).
    """
    encoder = dict(meta.encoder or {})
    theirs = (
        f"{encoder.get('name', 'unknown encoder')} ({encoder.get('model_id', '?')}, dim {meta.video_dim}, "
        f"{float(meta.clip_seconds):g} s clips)"
    )
    ours = f"{identity.name} ({identity.model_id}, dim {identity.dim}, {identity.clip_seconds:g} s clips)"
    same = (
        int(meta.video_dim) == identity.dim
        and abs(float(meta.clip_seconds) - identity.clip_seconds) < 1e-6
        and encoder.get("name", identity.name) == identity.name
        and encoder.get("model_id", identity.model_id) == identity.model_id
    )
    if not same:
        raise GroundingMismatchError(
            f"grounding checkpoint {run_dir} was trained on {theirs} features but this library holds {ours}"
        )
