"""Models registered by name: ``create_model(name, num_classes, **kw)``, ``list_models()``.

Every module in this package is imported on first use, so a new family only needs a file
with ``@register_model`` entry points.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import AudioClassifier, ClassifierHead, scaled
from .registry import accepts, complexity, create_model, default_input_shape, list_models, model_arguments, register_model

for _mod in pkgutil.iter_modules(__path__):
    if _mod.name not in {"base", "registry"} and not _mod.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = [
    "AudioClassifier",
    "accepts",
    "ClassifierHead",
    "complexity",
    "create_model",
    "default_input_shape",
    "list_models",
    "model_arguments",
    "register_model",
    "scaled",
]
