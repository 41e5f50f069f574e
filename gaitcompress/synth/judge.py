"""Judging generated clips with frozen real-data models (GaitCrafter §4, DESIGN §12).

Three figures, each also computed for held-out *real* clips of the same identities as a reference:

- **identity rank-1**: a frozen gait recognizer embeds generated clips and a real gallery of the generator's
  identities; a clip scores when its nearest gallery sequence (part-averaged Euclidean distance) belongs to the
  identity it was conditioned on.
- **Fréchet distance** between real and generated embeddings in the recognizer's space:
  ‖μ_r − μ_g‖² + tr(Σ_r + Σ_g − 2(Σ_r Σ_g)^{1/2}). The `[C·P]` embeddings (thousands of dimensions) outnumber
  the clips, so they are L2-normalised and projected on the top `fd_dims` principal axes of the real set first
  (FID-style statistics need more samples than dimensions); lower is better, the real-vs-real value is the floor.
- **view accuracy**: a small view classifier trained on real clips' gait-energy images (mean over time) predicts
  the view of generated clips; it scores when the prediction is the conditioned view.
- **label sensitivity** (generated only, no recognizer): the % of thresholded pixels that change when one label
  (identity, view or covariate) is moved to the next one while the starting noise stays, next to the % that
  change when only the noise changes. A generator that ignores its conditioning shows label figures near 0
  against a large noise figure — the reason its identity rank-1 sits at chance.

Real sequences of the judged ids are split per id into a gallery (even positions in sorted order) and a
held-out reference half (odd positions); the view classifier trains on the gallery half.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn

from gaitcompress.data.batch import Batch, SeqMeta, collate
from gaitcompress.evaluation import Features, extract_features, pairwise_distance
from gaitcompress.progress import NULL, Tracker
from gaitcompress.synth.conditioning import Condition

if TYPE_CHECKING:
    from gaitcompress.synth.generator import GaitCrafter


@dataclass(frozen=True)
class JudgeConfig:
    fd_dims: int = 16  # principal axes kept for the Fréchet distance
    view_epochs: int = 30  # view-classifier training epochs over the real gallery half
    batch: int = 16
    seed: int = 0
    sensitivity_clips: int = 16  # conditions (the first of the generated set) probed for label sensitivity


def split_real(features: Features) -> tuple[list[int], list[int]]:
    """Per id, sorted by (type, view): even positions → gallery, odd → held-out reference."""
    by_id: dict[str, list[int]] = {}
    for i, m in enumerate(features.meta):
        by_id.setdefault(m.id, []).append(i)
    gallery, held = [], []
    for rows in by_id.values():
        rows.sort(key=lambda i: (features.meta[i].type, features.meta[i].view))
        gallery += rows[0::2]
        held += rows[1::2]
    return gallery, held


def identity_rank1(probe: Features, gallery: Features) -> float:
    """% of probes whose nearest gallery sequence has the probe's id."""
    dist = pairwise_distance(probe.embeddings, gallery.embeddings)  # [Np, Ng]
    nearest = dist.argmin(1).tolist()
    hits = [probe.meta[i].id == gallery.meta[j].id for i, j in enumerate(nearest)]
    return 100.0 * float(np.mean(hits))


def frechet_distance(real: torch.Tensor, gen: torch.Tensor, dims: int) -> float:
    """Fréchet distance of Gaussians fitted to `real [N, D]` and `gen [M, D]` after L2-norm and real-set PCA."""
    real = F.normalize(real.double().flatten(1), dim=1)
    gen = F.normalize(gen.double().flatten(1), dim=1)
    mean = real.mean(0)
    k = max(1, min(dims, real.shape[0] - 1, gen.shape[0] - 1))
    _, _, v = torch.linalg.svd(real - mean, full_matrices=False)  # principal axes of the real set
    r, g = ((real - mean) @ v[:k].T).numpy(), ((gen - mean) @ v[:k].T).numpy()  # [N, k], [M, k]
    mu_r, mu_g = r.mean(0), g.mean(0)
    cov_r, cov_g = np.atleast_2d(np.cov(r, rowvar=False)), np.atleast_2d(np.cov(g, rowvar=False))
    root = scipy.linalg.sqrtm(cov_r @ cov_g)
    root = root.real if np.iscomplexobj(root) else root
    return float(((mu_r - mu_g) ** 2).sum() + np.trace(cov_r + cov_g - 2 * root))


class ViewNet(nn.Module):
    """Gait-energy image [N, H, W] → view logits: three conv-BN-ReLU-pool stages and a linear head."""

    def __init__(self, num_views: int, width: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 1
        for w in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, num_views)

    def forward(self, gei: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(gei[:, None]).mean((2, 3)))  # [N, 1, H, W] → [N, C] → [N, V]


def gait_energy(sils: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean silhouette over valid frames: [N, T, H, W] → [N, H, W]."""
    valid = (torch.arange(sils.shape[1])[None] < lengths[:, None]).float()  # [N, T]
    return (sils * valid[:, :, None, None]).sum(1) / lengths[:, None, None].float()


def train_view_classifier(
    gei: torch.Tensor, views: Sequence[str], view_names: Sequence[str], cfg: JudgeConfig, tracker: Tracker = NULL
) -> ViewNet:
    """Fit a `ViewNet` on real gait-energy images [N, H, W] with their view names (Adam, a few epochs)."""
    torch.manual_seed(cfg.seed)
    target = torch.tensor([list(view_names).index(v) for v in views])
    net = ViewNet(len(view_names))
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    gen = torch.Generator().manual_seed(cfg.seed)
    net.train()
    with tracker.task("view classifier", total=cfg.view_epochs) as step:
        for _ in range(cfg.view_epochs):
            order = torch.randperm(len(target), generator=gen)
            for start in range(0, len(order), 32):
                rows = order[start : start + 32]
                loss = F.cross_entropy(net(gei[rows]), target[rows])
                opt.zero_grad()
                loss.backward()
                opt.step()
            step(1, loss=loss.item())
    return net.eval()


@torch.no_grad()
def view_accuracy(net: ViewNet, gei: torch.Tensor, views: Sequence[str], view_names: Sequence[str]) -> float:
    pred = net(gei).argmax(1).tolist()
    return 100.0 * float(np.mean([view_names[p] == v for p, v in zip(pred, views, strict=True)]))


def label_sensitivity(
    generator: GaitCrafter, cond: Condition, seed: int, steps: int | None = None, guidance: float = 1.0
) -> dict[str, float]:
    """% of pixels (thresholded at 0.5) that change when one label moves to the next, the noise staying.

    Every row of `cond` is sampled once as is, once per label with that label cycled (id code rolled along the id
    axis: the next id, or the next blend for a multi-hot code; view / covariate index + 1 modulo their count), and
    once with the rows' conditions rolled by one, so row i meets row i+1's noise (`noise`: the same labels, another
    starting point). Keys `Δid`, `Δview`, `Δcov`, `Δnoise`.
    """

    def run(c: Condition) -> torch.Tensor:
        return generator.generate(c, seed=seed, guidance=guidance, steps=steps) >= 0.5  # bool [N, T, H, W]

    views, covs = len(generator.labels.views), len(generator.labels.covariates)
    base = run(cond)
    variants = {
        "Δid": Condition(cond.id_code.roll(1, dims=1), cond.view, cond.covariate),
        "Δview": Condition(cond.id_code, cond.view % views + 1, cond.covariate),  # 1-based: v → v+1, last → 1
        "Δcov": Condition(cond.id_code, cond.view, cond.covariate % covs + 1),
    }
    out = {k: 100.0 * float((run(c) ^ base).float().mean()) for k, c in variants.items()}
    rolled = Condition(cond.id_code.roll(1, 0), cond.view.roll(1, 0), cond.covariate.roll(1, 0))
    out["Δnoise"] = 100.0 * float((run(rolled).roll(-1, 0) ^ base).float().mean())  # row i: labels i, noise i+1
    return out


def batches(clips: torch.Tensor, meta: Sequence[SeqMeta], size: int) -> list[Batch]:
    """Fixed-length clips [N, T, H, W] as `Batch`es (label −1: judging needs no class index)."""
    return [
        collate([(clips[i], -1, meta[i]) for i in range(s, min(s + size, len(meta)))])
        for s in range(0, len(meta), size)
    ]


def collect(loader: Sequence[Batch] | object, keep: set[str]) -> tuple[list[torch.Tensor], list[SeqMeta]]:
    """Real sequences of the ids in `keep` from a loader, as per-sequence tensors [T_i, H, W] and meta."""
    seqs, meta = [], []
    for batch in loader:  # type: ignore[union-attr]
        for i, m in enumerate(batch.meta):
            if m.id in keep:
                seqs.append(batch.sils[i, : batch.lengths[i]])
                meta.append(m)
    return seqs, meta


class Reference:
    """The real side of the judging, computed once: gallery / held-out embeddings and the view classifier.

    Built from real sequences of the judged ids; `scores(clips, meta)` then judges any number of generated sets
    (each guidance scale, each checkpoint of a learning curve) at the cost of embedding only those clips.
    """

    def __init__(
        self,
        recognizer: nn.Module,
        real_seqs: Sequence[torch.Tensor],
        real_meta: Sequence[SeqMeta],
        cfg: JudgeConfig,
        view_names: Sequence[str],
        tracker: Tracker = NULL,
    ) -> None:
        recognizer.eval()
        self.recognizer, self.cfg, self.view_names, self.tracker = recognizer, cfg, list(view_names), tracker
        real_batches = [collate([(s, -1, m)]) for s, m in zip(real_seqs, real_meta, strict=True)]
        real = extract_features(recognizer, real_batches, tracker=tracker)
        gallery_rows, held_rows = split_real(real)
        self.gallery, self.held = real.subset(gallery_rows), real.subset(held_rows)
        gei_real = [gait_energy(b.sils, b.lengths)[0] for b in real_batches]
        self.gei_held = torch.stack([gei_real[i] for i in held_rows])
        gei_gallery = torch.stack([gei_real[i] for i in gallery_rows])
        self.view_net = train_view_classifier(
            gei_gallery, [m.view for m in self.gallery.meta], self.view_names, cfg, tracker
        )

    def embed(self, clips: torch.Tensor, meta: Sequence[SeqMeta]) -> Features:
        """Recognizer features of fixed-length clips [N, T, H, W]."""
        return extract_features(self.recognizer, batches(clips, meta, self.cfg.batch), tracker=self.tracker)

    def _scores(self, probe: Features, gei: torch.Tensor) -> dict[str, float]:
        return {
            "id@R1": identity_rank1(probe, self.gallery),
            "FD": frechet_distance(self.gallery.embeddings, probe.embeddings, self.cfg.fd_dims),
            "view@acc": view_accuracy(self.view_net, gei, [m.view for m in probe.meta], self.view_names),
        }

    def scores(self, clips: torch.Tensor, meta: Sequence[SeqMeta]) -> dict[str, float]:
        """`id@R1`, `FD`, `view@acc` of generated clips [N, T, H, W] conditioned on `meta`'s labels."""
        gei = gait_energy(clips, torch.full((len(meta),), clips.shape[1]))
        return self._scores(self.embed(clips, meta), gei)

    def real_scores(self) -> dict[str, float]:
        """The same figures for the held-out real half: the reference row."""
        return self._scores(self.held, self.gei_held)

    def novel_scores(self, clips: torch.Tensor, meta: Sequence[SeqMeta]) -> dict[str, float]:
        """Do clips of novel (interpolated) ids form identities of their own?

        Each novel clip looks for its nearest neighbour among the other novel clips and the real gallery of the
        judged ids. `novel@self` is the % whose nearest neighbour is a clip of its own novel id (it matches its own
        identity more than any training id or any other novel id); `novel@real` the % whose nearest neighbour is a
        real training sequence (the blend collapsed onto a training id).
        """
        probe = self.embed(clips, meta)
        emb = torch.cat([probe.embeddings, self.gallery.embeddings])
        dist = pairwise_distance(probe.embeddings, emb)  # [Nn, Nn + Ng]
        dist[:, : len(meta)].fill_diagonal_(float("inf"))  # not itself
        nearest = dist.argmin(1).tolist()
        own = [j < len(meta) and meta[j].id == meta[i].id for i, j in enumerate(nearest)]
        real = [j >= len(meta) for j in nearest]
        return {"novel@self": 100.0 * float(np.mean(own)), "novel@real": 100.0 * float(np.mean(real))}


def judge(
    recognizer: nn.Module,
    real_seqs: Sequence[torch.Tensor],
    real_meta: Sequence[SeqMeta],
    gen_clips: torch.Tensor,
    gen_meta: Sequence[SeqMeta],
    cfg: JudgeConfig,
    view_names: Sequence[str],
    tracker: Tracker = NULL,
) -> dict[str, dict[str, float]]:
    """Rank-1, Fréchet distance and view accuracy for generated clips and for held-out real clips.

    Returns `{'generated': {...}, 'real': {...}}` with keys `id@R1`, `FD`, `view@acc` (percentages except FD).
    """
    ref = Reference(recognizer, real_seqs, real_meta, cfg, view_names, tracker)
    return {"generated": ref.scores(gen_clips, gen_meta), "real": ref.real_scores()}
