"""Package-level properties of trtops.reference: no torchvision import, complete and documented
public API."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import torchvision.ops

import trtops.reference as reference

REPO_ROOT = Path(__file__).resolve().parents[2]

FUNCTIONS = [
    "nms", "batched_nms", "remove_small_boxes", "clip_boxes_to_image", "box_convert", "box_area",
    "box_iou", "generalized_box_iou", "roi_align", "ps_roi_align", "roi_pool", "ps_roi_pool",
    "deform_conv2d", "sigmoid_focal_loss",
]
MODULES = ["RoIAlign", "PSRoIAlign", "RoIPool", "PSRoIPool", "DeformConv2d", "MultiScaleRoIAlign",
           "FeaturePyramidNetwork"]


def test_import_does_not_import_torchvision():
    code = textwrap.dedent(
        """
        import sys
        import trtops.reference
        from trtops.reference import *  # noqa: F401,F403
        bad = sorted(m for m in sys.modules if m == "torchvision" or m.startswith("torchvision."))
        print("LOADED:" + ",".join(bad))
        """
    )
    env_path = str(REPO_ROOT)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
        cwd=str(REPO_ROOT),
    )
    assert "LOADED:\n" in result.stdout or result.stdout.strip() == "LOADED:", result.stdout


def test_public_api_is_complete():
    for name in FUNCTIONS + MODULES:
        assert name in reference.__all__, name
        assert hasattr(torchvision.ops, name), name  # same names as torchvision


def test_functions_are_typed_and_documented():
    for name in FUNCTIONS:
        fn = getattr(reference, name)
        sig = inspect.signature(fn)
        assert sig.return_annotation is not inspect.Signature.empty, name
        for param in sig.parameters.values():
            assert param.annotation is not inspect.Parameter.empty, (name, param.name)
        assert fn.__doc__ and "torchvision" in fn.__doc__, name
        # Same parameter names, in the same order, as torchvision's function.
        theirs = list(inspect.signature(getattr(torchvision.ops, name)).parameters)
        assert list(sig.parameters) == theirs, (name, list(sig.parameters), theirs)


def test_modules_document_shapes():
    for name in MODULES:
        doc = getattr(reference, name).__doc__ or ""
        assert "[" in doc and ("Shapes" in doc or "Forward" in doc), name
