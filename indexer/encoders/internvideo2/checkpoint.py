"""Find, read and load InternVideo2 Stage2 weights in the official checkpoint layout.

Sources, in the order :func:`resolve_checkpoint` tries them:

* ``path`` is a weights file (``.pt``/``.pth``/``.bin`` read with ``torch.load(weights_only=True)``,
  or ``.safetensors``);
* ``path`` is a directory holding exactly one weights file, optionally ``internvideo2_config.json``
  (an :class:`InternVideo2Config` for non-1B sizes) and the BERT tokenizer files;
* ``path`` is a Hugging Face repo id, or ``None`` for the official gated
  ``OpenGVLab/InternVideo2-Stage2_1B-224p-f4``, downloaded with the user's HF token.

The official file is the whole Stage2 training state. :func:`load_official_state_dict` keeps the
retrieval parts and drops, by explicit pattern, the training-only ones (CLIP-distillation decoders,
cross-attention fusion layers, MLM and ITM heads, temperature); anything else unexpected, any
missing key or any shape mismatch is an error, because it means the file is not this model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from indexer.encoders.internvideo2.config import STAGE2_1B, InternVideo2Config
from indexer.encoders.registry import EncoderLoadError

HF_REPO_ID = "OpenGVLab/InternVideo2-Stage2_1B-224p-f4"
HF_TOKENIZER_ID = "google-bert/bert-large-uncased"
CONFIG_FILENAME = "internvideo2_config.json"
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")

ACCESS_HINT = (
    f"accept the license at https://huggingface.co/{HF_REPO_ID} and log in (`hf auth login` or set "
    "HF_TOKEN), or download the .pt there and pass --encoder-path DIR"
)

# Official Stage2 keys that retrieval does not use ({fusion} is the first cross-attention layer).
_TRAINING_ONLY_PATTERNS = (
    r"vision_encoder\.(clip_decoder|final_clip_decoder)\..*",
    r"vision_encoder\.(clip_pos_embed|clip_img_pos_embed)",
    r"text_encoder\.cls\..*",
    r"text_encoder\.bert\.pooler\..*",
    r"text_encoder\.bert\.embeddings\.position_ids",
    r"text_encoder\.bert\.encoder\.layer\.\d+\.crossattention\..*",
    r"itm_head\..*",
    r"temp",
    r"clip_teacher\..*",
)
_LAYER_RE = re.compile(r"text_encoder\.bert\.encoder\.layer\.(\d+)\.")


class InternVideo2CheckpointError(EncoderLoadError):
    """The InternVideo2 weights are missing, unreachable or not in the expected layout."""


@dataclass(frozen=True)
class CheckpointSource:
    """Where the weights, config and tokenizer come from."""

    weights: Path
    config: InternVideo2Config
    tokenizer: str              # a local directory or a Hugging Face id


@dataclass
class LoadReport:
    """Outcome of mapping an official state dict onto the model."""

    loaded: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def resolve_checkpoint(path: str | None) -> CheckpointSource:
    """Turn ``--encoder-path`` (file, directory, HF repo id or None) into a :class:`CheckpointSource`."""
    if path is None:
        return _from_directory(_download(HF_REPO_ID))
    local = Path(path).expanduser()
    if local.is_file():
        if local.suffix not in WEIGHT_SUFFIXES:
            raise InternVideo2CheckpointError(
                f"{local} is not a weights file ({', '.join(WEIGHT_SUFFIXES)}): pass the InternVideo2 .pt or its folder"
            )
        return _with_directory_extras(local, local.parent)
    if local.is_dir():
        return _from_directory(local)
    if re.fullmatch(r"[\w.-]+/[\w.-]+", path) and not path.startswith((".", "/", "~")):
        return _from_directory(_download(path))
    raise InternVideo2CheckpointError(f"InternVideo2 weights not found at {path}: {ACCESS_HINT}")


def _from_directory(directory: Path) -> CheckpointSource:
    candidates = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not candidates:
        raise InternVideo2CheckpointError(
            f"no InternVideo2 weights (*.pt, *.safetensors) in {directory}: {ACCESS_HINT}")
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise InternVideo2CheckpointError(f"several weight files in {directory} ({names}): pass the one to use "
                                          "with --encoder-path FILE")
    return _with_directory_extras(candidates[0], directory)


def _with_directory_extras(weights: Path, directory: Path) -> CheckpointSource:
    config = STAGE2_1B
    config_path = directory / CONFIG_FILENAME
    if config_path.is_file():
        try:
            config = InternVideo2Config.from_dict(json.loads(config_path.read_text()))
        except (ValueError, TypeError) as exc:
            raise InternVideo2CheckpointError(f"invalid {config_path}: {exc}") from exc
    has_tokenizer = any((directory / name).is_file() for name in TOKENIZER_FILES)
    tokenizer = str(directory) if has_tokenizer else HF_TOKENIZER_ID
    return CheckpointSource(weights=weights, config=config, tokenizer=tokenizer)


def _download(repo_id: str) -> Path:
    """Snapshot the weights (+ config and tokenizer files) of ``repo_id``; gated repos use the HF token."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    patterns = ["*.pt", "*.pth", "*.bin", "*.safetensors", CONFIG_FILENAME, *TOKENIZER_FILES, "tokenizer_config.json"]
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except GatedRepoError as exc:
        raise InternVideo2CheckpointError(f"{repo_id} is gated and your token has no access: {ACCESS_HINT}") from exc
    except RepositoryNotFoundError as exc:
        raise InternVideo2CheckpointError(f"{repo_id} not found on the Hugging Face hub (or it is private and you "
                                          f"are not logged in): {ACCESS_HINT}") from exc
    except LocalEntryNotFoundError as exc:
        raise InternVideo2CheckpointError(f"{repo_id} is not in the local cache and the hub is unreachable "
                                          f"(offline?): {ACCESS_HINT}") from exc
    except OSError as exc:
        raise InternVideo2CheckpointError(f"cannot download {repo_id}: {exc}; {ACCESS_HINT}") from exc


def read_state_dict(weights: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` or (weights-only) torch checkpoint, unwrapped from
    ``{"model": ...}`` / ``{"module": ...}`` (DeepSpeed) containers and ``module.`` prefixes."""
    try:
        if weights.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: object = load_file(str(weights))
        else:
            try:
                state = torch.load(weights, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:  # legacy (non-zip) serialisation cannot be memory-mapped
                state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure means the same thing to the user
        raise InternVideo2CheckpointError(f"cannot read {weights}: {type(exc).__name__}: {exc}".splitlines()[0]
                                          + f" (re-download it: {ACCESS_HINT})") from exc
    for wrapper in ("model", "module", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InternVideo2CheckpointError(f"{weights} does not hold a state dict of tensors")
    return {key.removeprefix("module."): value for key, value in state.items()}


def is_training_only_key(key: str, fusion_layer: int) -> bool:
    """True for official Stage2 keys retrieval does not use (see the module docstring)."""
    if any(re.fullmatch(pattern, key) for pattern in _TRAINING_ONLY_PATTERNS):
        return True
    layer = _LAYER_RE.match(key)
    return layer is not None and int(layer.group(1)) >= fusion_layer


def select_retrieval_weights(
    state: dict[str, torch.Tensor], expected: dict[str, tuple[int, ...]], *, fusion_layer: int,
    source: str = "checkpoint",
) -> tuple[dict[str, torch.Tensor], LoadReport]:
    """Pick the tensors of ``state`` (official key names) that the model with ``expected`` shapes uses.

    Training-only keys are dropped; any other unknown key, any missing key or any shape mismatch
    raises :class:`InternVideo2CheckpointError` (the file is not this model, or not this size).
    """
    report = LoadReport()
    usable: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key in expected:
            if expected[key] != tuple(value.shape):
                raise InternVideo2CheckpointError(
                    f"{source}: {key} has shape {tuple(value.shape)}, the model expects {expected[key]}; "
                    f"for a size other than Stage2 1B put a matching {CONFIG_FILENAME} next to the weights"
                )
            usable[key] = value
        elif is_training_only_key(key, fusion_layer):
            report.ignored.append(key)
        else:
            report.unexpected.append(key)
    report.missing = sorted(set(expected) - set(usable))
    report.loaded = sorted(usable)
    if report.missing or report.unexpected:
        parts = []
        if report.missing:
            parts.append(f"{len(report.missing)} missing (e.g. {', '.join(report.missing[:3])})")
        if report.unexpected:
            parts.append(f"{len(report.unexpected)} unexpected (e.g. {', '.join(report.unexpected[:3])})")
        raise InternVideo2CheckpointError(
            f"{source} is not an InternVideo2 Stage2 checkpoint: {'; '.join(parts)} keys; {ACCESS_HINT}"
        )
    return usable, report


def load_official_state_dict(model: nn.Module, state: dict[str, torch.Tensor], *, fusion_layer: int,
                             source: str = "checkpoint") -> LoadReport:
    """Copy ``state`` (official key names) into ``model``; see :func:`select_retrieval_weights`."""
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    usable, report = select_retrieval_weights(state, expected, fusion_layer=fusion_layer, source=source)
    model.load_state_dict(usable, strict=True)
    return report
