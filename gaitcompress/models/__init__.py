"""Gait models: GaitBase and its students, a P3D teacher, OpenGait checkpoint import, cost accounting.

from gaitcompress.models import create_model, list_models, load_checkpoint
model = create_model("gaitbase_w025", num_classes=74)      # out = model(sils [N,T,H,W], lengths)
teacher = load_checkpoint("GaitBase-60000.pt")            # OpenGait or gaitcompress checkpoint
"""

from gaitcompress.models import deepgait_p3d, gaitbase  # noqa: F401  (their variants register on import)
from gaitcompress.models.cost import LayerCost, ModelCost, layer_macs, model_cost
from gaitcompress.models.registry import MODELS, create_model, list_models, register_model
from gaitcompress.models.spec import ModelSpec
from gaitcompress.models.weights import load_checkpoint, load_weights, save_opengait

__all__ = [
    "MODELS",
    "LayerCost",
    "ModelCost",
    "ModelSpec",
    "create_model",
    "layer_macs",
    "list_models",
    "load_checkpoint",
    "load_weights",
    "model_cost",
    "register_model",
    "save_opengait",
]
