"""Gait models: GaitBase and its students, a P3D teacher, OpenGait checkpoint import, cost accounting."""

from gaitcompress.models.registry import MODELS, create_model, list_models, register_model
from gaitcompress.models.spec import ModelSpec

__all__ = ["MODELS", "ModelSpec", "create_model", "list_models", "register_model"]
