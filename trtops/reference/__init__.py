"""Pure-PyTorch reference implementations of torchvision's detection operators.

These define what "correct" means for the trtops kernels and plugins: same signatures and
semantics as ``torchvision.ops`` (see ``README.md`` in this folder for every place where exact
agreement is impossible or deliberately different). Importing this package never imports
torchvision.
"""

from .boxes import (
    batched_nms,
    box_area,
    box_convert,
    box_iou,
    clip_boxes_to_image,
    generalized_box_iou,
    nms,
    remove_small_boxes,
)
from .deform_conv import DeformConv2d, deform_conv2d
from .feature_pyramid_network import (
    ExtraFPNBlock,
    FeaturePyramidNetwork,
    LastLevelMaxPool,
    LastLevelP6P7,
)
from .focal_loss import sigmoid_focal_loss
from .poolers import LevelMapper, MmdetLevelMapper, MultiScaleRoIAlign
from .ps_roi_align import PSRoIAlign, ps_roi_align
from .ps_roi_pool import PSRoIPool, ps_roi_pool
from .roi_align import RoIAlign, roi_align
from .roi_pool import RoIPool, roi_pool

__all__ = [
    "nms",
    "batched_nms",
    "remove_small_boxes",
    "clip_boxes_to_image",
    "box_convert",
    "box_area",
    "box_iou",
    "generalized_box_iou",
    "roi_align",
    "ps_roi_align",
    "roi_pool",
    "ps_roi_pool",
    "deform_conv2d",
    "sigmoid_focal_loss",
    "RoIAlign",
    "PSRoIAlign",
    "RoIPool",
    "PSRoIPool",
    "DeformConv2d",
    "MultiScaleRoIAlign",
    "LevelMapper",
    "MmdetLevelMapper",
    "FeaturePyramidNetwork",
    "ExtraFPNBlock",
    "LastLevelMaxPool",
    "LastLevelP6P7",
]
