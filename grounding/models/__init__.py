"""Registry of grounding models, imported lazily so ``vsearch --help`` never loads torch.

Each model package exposes:

* ``CONFIG_CLS``: its dataclass config tree with fields ``model`` (with ``video_dim`` / ``text_dim``),
  ``matcher``, ``loss``, ``data`` (:class:`grounding.data.dataset.DatasetConfig`) and ``optim``
  (:class:`grounding.optim.OptimConfig`);
* ``PRESETS``: ``{name: config}`` of named configs (``"default"`` is the paper's setting);
* ``build_model(config) -> nn.Module`` and ``build_criterion(config) -> nn.Module``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

MODELS: dict[str, str] = {"qd_detr": "grounding.models.qd_detr", "sg_detr": "grounding.models.sg_detr"}


class UnknownModelError(ValueError):
    """A model name that is not in :data:`MODELS`."""


def model_package(name: str) -> ModuleType:
    """The package implementing model ``name`` (imported on first use)."""
    if name not in MODELS:
        raise UnknownModelError(f"unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}")
    return importlib.import_module(MODELS[name])


def preset(name: str, preset_name: str = "default") -> Any:
    """A fresh copy of the named preset config of model ``name``."""
    import copy

    presets = model_package(name).PRESETS
    if preset_name not in presets:
        raise UnknownModelError(f"model {name!r} has no preset {preset_name!r}; presets: {', '.join(sorted(presets))}")
    return copy.deepcopy(presets[preset_name])


def build_model(name: str, config: Any) -> Any:
    """``build_model`` of model ``name``: an ``nn.Module`` ``(video_feats, video_mask, text_feats, text_mask)
    -> dict of tensors``, see the model package for its outputs."""
    return model_package(name).build_model(config)


def build_criterion(name: str, config: Any) -> Any:
    """``build_criterion`` of model ``name``: a module ``(outputs, batch) -> dict of weighted losses``."""
    return model_package(name).build_criterion(config)


def build(name: str, config: Any) -> tuple[Any, Any]:
    """``(model, criterion)`` of model ``name`` for ``config``."""
    return build_model(name, config), build_criterion(name, config)
