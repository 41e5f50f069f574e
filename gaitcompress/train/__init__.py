"""gaitcompress.train: the training engine every stage shares (DESIGN.md §6).

Checkpoints (atomic writes, keep-last-N, `latest`, RNG state) live in `gaitcompress.checkpoints`, the run life
cycle (lock, resume rules, seed loop) in `gaitcompress.harness`.

config.py       recipe sections (`optim`, `sched`, `train`, `model`, `eval`) and the `TrainRecipe` schema
module.py       the `TrainModule` contract and `SupervisedModule`
engine.py       `Trainer`: iteration-based loop, AMP on CUDA, DDP, callbacks, periodic evaluation and checkpoints
optim.py        optimizer (with no-weight-decay groups) and per-iteration lr schedules
logging.py      log.jsonl + TensorBoard, rank 0 only
distributed.py  `torchrun` process group (gloo on CPU, NCCL on CUDA) and DDP wrapping
losses.py       OpenGait's triplet + CE losses and the recipe's `LossSet`
stage.py        `run_train` / `run_seeds` / `run_eval`: recipe in, run folder out
"""
