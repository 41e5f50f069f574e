"""k-reciprocal re-ranking (Zhong et al., CVPR 2017): the classical baseline CarGait is compared with.

Re-implemented from the paper. With all sequences (probes then gallery) and their pairwise distances D, rows
normalised by their maximum:

1. R(i, k) = {j ∈ N(i, k) : i ∈ N(j, k)}, N(i, k) the k + 1 nearest (i itself included);
2. R*(i) = R(i, k1) ∪ every R(j, ⌊k1/2⌉) with j ∈ R(i, k1) sharing more than 2/3 of its members with R(i, k1);
3. V_i[j] = exp(−D[i, j]) over j ∈ R*(i), normalised to sum 1; local query expansion V_i ← mean of V over N(i, k2);
4. Jaccard distance d_J(i, j) = 1 − Σ min(V_i, V_j) / Σ max(V_i, V_j) (= 1 − m / (2 − m) for unit-sum rows);
5. d*(p, g) = (1 − λ) · d_J(p, g) + λ · D(p, g).

D is the square of the part-averaged distance the first stage ranks with (the paper squares the Euclidean
distance of global features); it needs the probe–probe and gallery–gallery distances too, which is what makes it costly.
"""

from __future__ import annotations

import torch

from gaitcompress.evaluation import Features, pairwise_distance


def _nearest(dist: torch.Tensor, k: int) -> torch.Tensor:
    """`[N, min(k, N)]` indices of the nearest entries of each row, nearest first."""
    return torch.topk(dist, min(k, dist.shape[1]), dim=1, largest=False, sorted=True).indices


def _reciprocal_sets(rank: torch.Tensor, k: int) -> list[torch.Tensor]:
    """R(i, k) for every row, from the nearest-first index table `rank [N, ≥ k+1]`."""
    forward = rank[:, : k + 1]  # [N, k+1]
    backward = rank[forward, : k + 1]  # [N, k+1, k+1]
    me = torch.arange(rank.shape[0]).view(-1, 1, 1)
    keep = (backward == me).any(-1)  # [N, k+1]: i is among the k+1 nearest of its neighbour
    return [forward[i][keep[i]] for i in range(rank.shape[0])]


def k_reciprocal(
    probe_gallery: torch.Tensor,
    probe_probe: torch.Tensor,
    gallery_gallery: torch.Tensor,
    k1: int = 20,
    k2: int = 6,
    lam: float = 0.3,
) -> torch.Tensor:
    """Re-ranked probe × gallery distances `[Np, Ng]` (float64) from the three first-stage distance blocks."""
    num_probe, num_gallery = probe_gallery.shape
    n = num_probe + num_gallery
    dist = (
        torch.cat(
            [torch.cat([probe_probe, probe_gallery], 1), torch.cat([probe_gallery.T, gallery_gallery], 1)], 0
        ).double()
        ** 2
    )  # [N, N] squared, as the paper's implementation
    dist = dist / dist.amax(1, keepdim=True).clamp_min(1e-12)
    k1 = min(k1, n - 1)
    rank = _nearest(dist, k1 + 1)  # [N, k1+1]
    full_sets = _reciprocal_sets(rank, k1)
    half_sets = _reciprocal_sets(rank, int(round(k1 / 2)))
    v = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        members = full_sets[i]
        expansion = [members]
        for j in members.tolist():
            candidate = half_sets[j]
            overlap = torch.isin(candidate, members).sum()
            if overlap > 2.0 / 3.0 * candidate.numel():
                expansion.append(candidate)
        members = torch.unique(torch.cat(expansion))
        weight = torch.exp(-dist[i, members])
        v[i, members] = weight / weight.sum()
    if k2 > 1:
        v = v[rank[:, : min(k2, n)]].mean(1)  # [N, N] local query expansion
    gallery_v = v[num_probe:]  # [Ng, N]
    jaccard = torch.empty(num_probe, num_gallery, dtype=torch.float64)
    for i in range(num_probe):
        nz = v[i].nonzero().squeeze(1)
        shared = torch.minimum(v[i, nz].unsqueeze(0), gallery_v[:, nz]).sum(1)  # [Ng] Σ min(V_i, V_g)
        jaccard[i] = 1.0 - shared / (2.0 - shared)
    return (1.0 - lam) * jaccard + lam * dist[:num_probe, num_probe:]


class KReciprocalReranker:
    """`Reranker` for the evaluation protocols: k-reciprocal re-ranking over the probe and gallery features."""

    def __init__(self, k1: int = 20, k2: int = 6, lam: float = 0.3, metric: str = "euc") -> None:
        self.k1, self.k2, self.lam, self.metric = k1, k2, lam, metric

    def __call__(self, dist: torch.Tensor, probe: Features, gallery: Features) -> torch.Tensor:
        pp = pairwise_distance(probe.embeddings, probe.embeddings, self.metric)  # [Np, Np]
        gg = pairwise_distance(gallery.embeddings, gallery.embeddings, self.metric)  # [Ng, Ng]
        return k_reciprocal(dist, pp, gg, self.k1, self.k2, self.lam)
