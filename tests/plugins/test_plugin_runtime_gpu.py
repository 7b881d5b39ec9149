"""Tier 3: every plugin's runtime phase on a GPU, through the harness (what a TensorRT execution
context does: attachToContext, onShapeChange, enqueue with the workspace the plugin asked for),
compared with torchvision's CUDA ops. Outputs are poisoned first so unwritten elements show."""

from __future__ import annotations

import pytest

try:
    from tests.mmdet_extractor import boxes_at_level_boundaries, single_roi_extractor
    from tests.tolerances import tolerance
except ImportError:  # tests/ itself on sys.path
    from mmdet_extractor import boxes_at_level_boundaries, single_roi_extractor
    from tolerances import tolerance

from trtops.plugins import built_plugins

pytestmark = [pytest.mark.gpu, pytest.mark.plugins]

DTYPES = ["float32", "float16", "bfloat16"]


def run(harness, name, fields, inputs, outputs, formats=None):
    """Configure (build phase) at these shapes, then attach + enqueue; returns the outputs."""
    import torch

    if name not in built_plugins():
        pytest.skip(f"{name} is not in this build")
    plugin = harness.create(name, fields)
    specs = lambda tensors: [(str(t.dtype).replace("torch.", ""), list(t.shape), "linear") for t in tensors]  # noqa: E731
    workspace_size = plugin.configure(specs(inputs), specs(outputs))
    runtime = plugin.recreate().clone(attach_to_context=True)  # deserialized engine -> execution context
    workspace = torch.empty(max(workspace_size, 1), dtype=torch.uint8, device="cuda")
    runtime.enqueue(inputs, outputs, workspace, formats)
    torch.cuda.synchronize()
    return outputs


def random_rois(k, n, height, width, device="cuda"):
    import torch

    x1 = torch.rand(k, device=device) * width * 0.8
    y1 = torch.rand(k, device=device) * height * 0.8
    w = torch.rand(k, device=device) * width * 0.5 + 1
    h = torch.rand(k, device=device) * height * 0.5 + 1
    batch = torch.randint(0, n, (k,), device=device).float()
    return torch.stack([batch, x1, y1, x1 + w, y1 + h], 1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("aligned", [0, 1])
def test_roi_align(harness, dtype, aligned):
    import torch
    import torchvision

    torch.manual_seed(0)
    dt = getattr(torch, dtype)
    x = torch.randn(2, 32, 40, 56, device="cuda").to(dt)
    rois = random_rois(300, 2, 160, 224).to(dt)
    out = torch.full((300, 32, 7, 7), float("nan"), device="cuda", dtype=dt)
    fields = {"output_height": 7, "output_width": 7, "spatial_scale": 0.25, "sampling_ratio": 2, "aligned": aligned}
    run(harness, "RoIAlign", fields, [x, rois], [out])
    expected = torchvision.ops.roi_align(x.double(), rois.double(), 7, 0.25, 2, bool(aligned))
    torch.testing.assert_close(out.double(), expected, **tolerance("roi_align", dt))


@pytest.mark.parametrize("dtype", DTYPES)
def test_ps_roi_align_and_pools(harness, dtype):
    import torch
    import torchvision

    torch.manual_seed(1)
    dt = getattr(torch, dtype)
    x = torch.randn(1, 98, 30, 40, device="cuda").to(dt)
    rois = random_rois(100, 1, 240, 320).to(dt)
    cases = [
        ("PSRoIAlign", {"sampling_ratio": 2}, [100, 2, 7, 7], "ps_roi_align",
         lambda: torchvision.ops.ps_roi_align(x.double(), rois.double(), 7, 0.125, 2)),
        ("PSRoIPool", {}, [100, 2, 7, 7], "ps_roi_pool",
         lambda: torchvision.ops.ps_roi_pool(x.double(), rois.double(), 7, 0.125)),
        ("RoIPool", {}, [100, 98, 7, 7], "roi_pool",
         lambda: torchvision.ops.roi_pool(x.double(), rois.double(), 7, 0.125)),
    ]
    for name, extra, shape, op, expected in cases:
        out = torch.full(shape, float("nan"), device="cuda", dtype=dt)
        run(harness, name, {"output_height": 7, "output_width": 7, "spatial_scale": 0.125, **extra}, [x, rois], [out])
        torch.testing.assert_close(out.double(), expected().to(dt).double() if op == "roi_pool" else expected(),
                                   **tolerance(op, dt))


@pytest.mark.parametrize("dtype", DTYPES)
def test_multi_scale_roi_align(harness, dtype):
    from collections import OrderedDict

    import torch
    import torchvision

    torch.manual_seed(2)
    dt = getattr(torch, dtype)
    image = (256, 320)
    levels = [torch.randn(2, 16, image[0] >> s, image[1] >> s, device="cuda").to(dt) for s in (2, 3, 4, 5)]
    boxes = [random_rois(200, 1, *image)[:, 1:] for _ in range(2)]
    rois = torch.cat([torch.cat([torch.full((200, 1), float(i), device="cuda"), b], 1) for i, b in enumerate(boxes)])
    out = torch.full((400, 16, 7, 7), float("nan"), device="cuda", dtype=dt)
    fields = {"output_height": 7, "output_width": 7, "sampling_ratio": 2, "spatial_scales": [0.25, 0.125, 0.0625, 0.03125]}
    run(harness, "MultiScaleRoIAlign", fields, [*levels, rois.to(dt)], [out])
    pooler = torchvision.ops.MultiScaleRoIAlign(["p2", "p3", "p4", "p5"], 7, 2)
    features = OrderedDict((f"p{i + 2}", lvl.double()) for i, lvl in enumerate(levels))
    expected = pooler(features, [b.to(dt).double() for b in boxes], [image, image])
    torch.testing.assert_close(out.double(), expected, **tolerance("multi_scale_roi_align", dt))


@pytest.mark.parametrize("dtype", DTYPES)
def test_multi_scale_roi_align_mmdet_mapper(harness, dtype):
    """level_mapper=1 with strides 6..48 (not powers of two) against mmdet's extractor in float64."""
    import torch

    torch.manual_seed(3)
    dt = getattr(torch, dtype)
    strides = (6, 12, 24, 48)
    levels = [torch.randn(2, 16, -(-288 // s), -(-384 // s), device="cuda").to(dt) for s in strides]
    rois = torch.cat([random_rois(300, 2, 288, 384), boxes_at_level_boundaries(48).cuda()]).float()
    out = torch.full((len(rois), 16, 7, 7), float("nan"), device="cuda", dtype=dt)
    fields = {"output_height": 7, "output_width": 7, "sampling_ratio": 0, "aligned": 1, "level_mapper": 1,
              "finest_scale": 48, "spatial_scales": [1 / s for s in strides]}
    run(harness, "MultiScaleRoIAlign", fields, [*levels, rois], [out])
    expected = single_roi_extractor([lvl.double().cpu() for lvl in levels], rois.double().cpu(), (7, 7), strides, 0,
                                    True, 48, level_rois=rois.cpu())
    torch.testing.assert_close(out.double().cpu(), expected, **tolerance("multi_scale_roi_align", dt))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_mask", [False, True])
def test_deform_conv2d(harness, dtype, with_mask):
    import torch
    import torchvision

    torch.manual_seed(3)
    dt = getattr(torch, dtype)
    x = torch.randn(2, 32, 24, 20, device="cuda").to(dt)
    weight = (torch.randn(48, 32, 3, 3, device="cuda") / 17).to(dt)
    bias = torch.randn(48, device="cuda").to(dt)
    offset = (torch.randn(2, 18, 24, 20, device="cuda") * 2).to(dt)
    mask = torch.rand(2, 9, 24, 20, device="cuda").to(dt)
    out = torch.full((2, 48, 24, 20), float("nan"), device="cuda", dtype=dt)
    inputs = [x, offset, weight, bias] + ([mask] if with_mask else [])
    fields = {"padding": [1, 1], "has_bias": 1, "has_mask": int(with_mask)}
    run(harness, "DeformConv2d", fields, inputs, [out])
    expected = torchvision.ops.deform_conv2d(
        x.double(), offset.double(), weight.double(), bias.double(), padding=1,
        mask=mask.double() if with_mask else None,
    )
    torch.testing.assert_close(out.double(), expected, **tolerance("deform_conv2d", dt))


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_nms(harness, batched, padded):
    import torch
    import torchvision

    torch.manual_seed(4)
    n = 5000
    xy = torch.rand(n, 2, device="cuda") * 500
    boxes = torch.cat([xy, xy + torch.rand(n, 2, device="cuda") * 80 + 1], 1)
    scores = torch.rand(n, device="cuda")
    idxs = torch.randint(0, 20, (n,), device="cuda")
    capacity = 300 if padded else n
    indices = torch.full((capacity,), -7, dtype=torch.int64, device="cuda")
    count = torch.full((), -7, dtype=torch.int64, device="cuda")
    fields = {"iou_threshold": 0.5, "max_output_boxes": 300 if padded else -1, "padded": int(padded)}
    inputs = [boxes, scores] + ([idxs] if batched else [])
    run(harness, "BatchedNMS" if batched else "NMS", fields, inputs, [indices, count])
    if batched:
        expected = torchvision.ops.boxes._batched_nms_vanilla(boxes, scores, idxs, 0.5)
    else:
        expected = torchvision.ops.nms(boxes, scores, 0.5)
    if padded:
        expected = expected[:300]
    k = int(count)
    assert k == len(expected)
    assert torch.equal(indices[:k], expected)
    if padded:
        assert bool((indices[k:] == -1).all())
