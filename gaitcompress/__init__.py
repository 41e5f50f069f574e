"""gaitcompress: compress gait-recognition models for edge deployment.

Pipeline: teacher → GaitKD student → QGait w8a8/w4a4 → ONNX / TensorRT → benchmark and CI gate.
See DESIGN.md (shared) for the method specification each sub-package implements.
"""

__version__ = "0.1.0"
