"""Ablation-CAM (Desai & Ramaswamy 2020): the drop of the class logit when a channel is zeroed."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from clustercam.cam_method import CAMMethod
from clustercam.tail import tail_logits


class AblationCAM(CAMMethod):
    """w_k = (y_c - y_c^k) / y_c, y_c^k the class logit with channel k of the target layer set to
    zero; L = ReLU(sum_k w_k A_k).

    Each ablation runs only the layers after the target layer (a tail pass, clustercam/tail.py), in
    chunks of `chunk_size` rows that may mix images. Channels that are zero everywhere are skipped:
    zeroing them changes nothing and their map adds nothing, so the map is the same. Cost: 1
    forward pass + one tail pass per channel that is not all zero. Like the paper, the weights are
    undefined (a NaN map, reported as invalid) when the class logit y_c is exactly 0.
    """

    def saliency(
        self,
        images: torch.Tensor,
        classes: torch.Tensor,
        logits: torch.Tensor,
        activations: torch.Tensor,
    ) -> torch.Tensor:
        activations = activations.detach()
        live = [torch.nonzero(a.flatten(1).ne(0).any(1))[:, 0] for a in activations]
        owner = torch.cat([torch.full((len(k),), b) for b, k in enumerate(live)]).to(images.device)
        channel = torch.cat(live)
        ablated = torch.empty(len(owner), device=images.device)
        for start in tqdm(range(0, len(owner), self.chunk_size), desc="ablation", leave=False):
            stop = min(start + self.chunk_size, len(owner))
            rows = activations[owner[start:stop]].clone()
            rows[torch.arange(stop - start, device=rows.device), channel[start:stop]] = 0
            scores = tail_logits(self.model, self.layer, rows, images).float()
            targets = classes[owner[start:stop], None].to(scores.device)
            ablated[start:stop] = scores.gather(1, targets)[:, 0]
        original = logits.detach().float().gather(1, classes[:, None])[:, 0]
        weights = torch.zeros(activations.shape[:2], device=images.device)
        weights[owner, channel] = (original[owner] - ablated) / original[owner]
        return torch.relu(torch.einsum("bk,bkhw->bhw", weights, activations.float()))
