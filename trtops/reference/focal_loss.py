"""Sigmoid focal loss (RetinaNet) with torchvision's semantics."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._common import check_real, check_tensor

__all__ = ["sigmoid_focal_loss"]

_REDUCTIONS = ("none", "mean", "sum")


def sigmoid_focal_loss(
    inputs: Tensor,
    targets: Tensor,
    alpha: float = 0.25,
    gamma: float = 2,
    reduction: str = "none",
) -> Tensor:
    """Focal loss of Lin et al. (2017), as ``torchvision.ops.sigmoid_focal_loss``.

    ``loss = alpha_t * BCE(inputs, targets) * (1 - p_t) ** gamma`` with ``p = sigmoid(inputs)``,
    ``p_t = p * t + (1 - p) * (1 - t)`` and ``alpha_t = alpha * t + (1 - alpha) * (1 - t)``
    (the alpha factor is skipped when ``alpha == -1``).

    Args:
        inputs: logits of any shape.
        targets: same shape as ``inputs``; 1 for positives, 0 for negatives (soft labels allowed).
        alpha: weight in ``[0, 1]`` of the positive class, or ``-1`` to disable.
        gamma: focusing exponent.
        reduction: ``'none'`` (per element), ``'mean'`` or ``'sum'``.

    Returns:
        The loss, with the same dtype as ``inputs``. The same PyTorch operations are applied in
        the same order as torchvision, so results are bit-identical.
    """
    check_tensor("inputs", inputs)
    check_tensor("targets", targets)
    check_real("alpha", alpha)
    check_real("gamma", gamma)  # used as given: torch special-cases integral exponents
    if not (0 <= alpha <= 1) and alpha != -1:
        raise ValueError(f"alpha must be in [0, 1] or -1 (disabled), got alpha={alpha!r}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got reduction={reduction!r}")
    if inputs.shape != targets.shape:
        raise ValueError(
            "targets must have the shape of inputs, got "
            f"inputs.shape={tuple(inputs.shape)} and targets.shape={tuple(targets.shape)}"
        )
    prob = torch.sigmoid(inputs)
    bce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = bce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
