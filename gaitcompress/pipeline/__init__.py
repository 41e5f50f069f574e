"""`gaitcompress pipeline`: teacher → (GaitCrafter data) → GaitKD student → QGait → ONNX → bench → report."""
