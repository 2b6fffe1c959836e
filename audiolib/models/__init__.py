"""Models registered by name: ``create_model(name, num_classes, **kw)``, ``list_models()``.

Every module in this package is imported on import and on each lookup
(:func:`~audiolib.models.registry.discover`), so a new family only needs a file with
``@register_model`` entry points.
"""

from __future__ import annotations

from .base import AudioClassifier, ClassifierHead, scaled
from .registry import (accepts, complexity, create_model, default_input_shape, discover, list_models, model_arguments,
                       register_model, unregister_model)

discover()

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
    "unregister_model",
    "scaled",
]
