"""Does the head generalise to identities it never saw? Train it on the lists of part of the training identities
and score the lists of the others (held out), against the first stage's order of the same lists.

    python -m gaitlab.rerank_heldout runs/synthgait/rerank_student/features.pt --iterations 300

Prints, every `--every` iterations, the training loss and on the held-out lists: the fraction of (true match,
impostor) pairs the head orders correctly, and how often its nearest candidate is a true match; finally the test-set
metrics of the head. The same head, loss and lists as `gaitcompress rerank train` (docs/rerank.md), on the cached
features of a rerank run; a plain Adam loop with a cosine schedule instead of the engine (nothing is saved).
"""

from __future__ import annotations

import argparse
import json
import math

import torch

from gaitcompress.evaluation import Features, evaluate
from gaitcompress.evaluation.protocols.crossview import CASIAB_GALLERY
from gaitcompress.rerank.cargait import CarGaitReranker
from gaitcompress.rerank.head import CarGaitHead
from gaitcompress.rerank.module import CarGaitModule
from gaitcompress.rerank.pairs import PairSet, all_blocks, build_pair_set, cross_view_blocks, pair_batches
from gaitcompress.rerank.stage import read_features


def list_accuracy(head: CarGaitHead, pairs: PairSet) -> dict[str, float]:
    """Pairwise order accuracy and top-1 of the head's distances on every list of `pairs`, and of stage 1's."""
    batch = pairs.batch(torch.arange(len(pairs)))
    b, v, s, d = batch.candidates.shape
    with torch.no_grad():
        probe = batch.probe.unsqueeze(1).expand(b, v, s, d).reshape(b * v, s, d)  # [B·v, s, d]
        dist = head.eval()(probe, batch.candidates.reshape(b * v, s, d)).view(b, v)  # [B, v]
    triplet = batch.positive.unsqueeze(2) & ~batch.positive.unsqueeze(1)  # [B, v_i, v_j] i true, j impostor

    def scores(x: torch.Tensor) -> tuple[float, float]:
        ordered = (x.unsqueeze(2) < x.unsqueeze(1)) & triplet
        top1 = batch.positive.gather(1, x.argmin(1, keepdim=True)).float().mean()
        return ordered.sum().item() / triplet.sum().item(), top1.item()

    (pair_acc, top1), (pair_acc0, top1_0) = scores(dist), scores(batch.initial)
    return {"pair_acc": pair_acc, "top1": top1, "stage1_pair_acc": pair_acc0, "stage1_top1": top1_0}


def _split(features: Features, held: set[str]) -> tuple[Features, Features]:
    keep = [i for i, m in enumerate(features.meta) if m.id not in held]
    out = [i for i, m in enumerate(features.meta) if m.id in held]
    return features.subset(keep), features.subset(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("features", help="features.pt of a rerank run folder")
    parser.add_argument("--held-every", type=int, default=5, help="hold out every n-th training identity")
    parser.add_argument("--source", default="embeddings", choices=("embeddings", "parts"))
    parser.add_argument("--lists", default="protocol", choices=("protocol", "all"))
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--every", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    feats = read_features(args.features)
    train, test = feats["train"], feats["test"]
    held_ids = set(sorted(set(train.ids))[:: args.held_every])
    fit, held = _split(train, held_ids)

    def lists(f: Features) -> PairSet:
        blocks = cross_view_blocks(f, CASIAB_GALLERY) if args.lists == "protocol" else all_blocks(f)
        return build_pair_set(f, args.source, 30, "euc", blocks)

    fit_pairs, held_pairs = lists(fit), lists(held)
    torch.manual_seed(args.seed)
    source = train.embeddings if args.source == "embeddings" else train.parts
    head = CarGaitHead(source.shape[1], source.shape[2], 4, args.source)
    module = CarGaitModule(head, len(set(train.ids)), 256, args.beta, args.alpha)
    optim = torch.optim.Adam(module.parameters(), lr=args.lr)
    batches = pair_batches(fit_pairs, 16, args.seed)
    print(json.dumps({"held_ids": len(held_ids), "fit_lists": len(fit_pairs), "held_lists": len(held_pairs),
                      "iteration": 0, **list_accuracy(head, held_pairs)}), flush=True)  # fmt: skip
    for it in range(1, args.iterations + 1):
        for group in optim.param_groups:
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * (it - 1) / args.iterations))
        module.train()
        terms = module.training_losses(next(batches))
        loss = sum(terms.values())
        optim.zero_grad()
        loss.backward()
        optim.step()
        if it % args.every == 0 or it == args.iterations:
            print(json.dumps({"iteration": it, "loss": loss.item(), **list_accuracy(head, held_pairs)}), flush=True)
    metrics = evaluate(test, "casiab", rerank=CarGaitReranker(head.eval(), 10)).metrics
    print(json.dumps({"test": {k: metrics[k] for k in ("mean@R1", "NM@R1", "BG@R1", "CL@R1", "R1", "R5", "mAP")}}))


if __name__ == "__main__":
    main()
