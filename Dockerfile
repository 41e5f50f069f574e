# gaitcompress for CUDA GPU servers: PyTorch base image, gaitcompress installed, TensorRT when present.
# Build:  docker build -t gaitcompress:cuda .
# Run:    docker run --gpus all --rm -v "$PWD/runs:/work/runs" gaitcompress:cuda pipeline recipes/synthgait/pipeline_quick.yaml
# TensorRT: NVIDIA's PyTorch images (nvcr.io/nvidia/pytorch) ship TensorRT; on this base, install it with
#   --build-arg TENSORRT=1 (pulls tensorrt-cu12 from NVIDIA's index). gaitcompress imports it lazily either way.
ARG BASE=pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime
FROM ${BASE}

ARG TENSORRT=0
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    GAITCOMPRESS_DATA=/work/data

WORKDIR /opt/gaitcompress
COPY pyproject.toml README.md ./
COPY gaitcompress ./gaitcompress
COPY recipes ./recipes
COPY export ./export
COPY bench ./bench

# torch comes from the base image; the range in pyproject.toml is satisfied, so pip keeps it.
# onnxruntime-gpu replaces the CPU wheel so the ort-cuda backend is available.
RUN python -m pip install --no-cache-dir . \
    && python -m pip uninstall -y onnxruntime \
    && python -m pip install --no-cache-dir "onnxruntime-gpu>=1.18" \
    && if [ "${TENSORRT}" = "1" ]; then \
         python -m pip install --no-cache-dir --extra-index-url https://pypi.nvidia.com "tensorrt-cu12>=10" cuda-python; \
       fi

WORKDIR /work
ENTRYPOINT ["gaitcompress"]
CMD ["--help"]
