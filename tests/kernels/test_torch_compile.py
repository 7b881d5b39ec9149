"""trtops.ops under torch.compile, torch.export and meta tensors (the trtops_kernels:: custom ops).

CPU tier (the host implementation): a compiled or exported call must give exactly the eager
call's result, record one ``trtops_kernels::`` node per op (no graph break), keep the output's
memory format, and get the eager call's shape checks; ``torch.library.opcheck`` checks each
op's registration (schema, fake kernel against the real one, dynamic shapes). The GPU tier adds
a compiled CUDA call. An eager call on real tensors must launch directly, never through the
custom op (its dispatch costs microseconds per call).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

import pytest
import torch
import torchvision

import trtops.ops as ops

pytestmark = pytest.mark.kernels

KERNEL_OPS = ("roi_align", "ps_roi_align", "roi_pool", "ps_roi_pool", "multi_scale_roi_align", "nms", "deform_conv2d")


def _boxes(gen: torch.Generator, n: int, size: float) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=gen) * size
    wh = torch.rand(n, 2, generator=gen) * size / 3 + 1
    return torch.cat([xy, xy + wh], dim=1)


def _rois(gen: torch.Generator, k: int, batch: int, size: float) -> torch.Tensor:
    ids = torch.randint(0, batch, (k, 1), generator=gen).float()
    return torch.cat([ids, _boxes(gen, k, size)], dim=1)


def _cases() -> Dict[str, Tuple[Callable[..., Any], Tuple[torch.Tensor, ...]]]:
    """name -> (a function of tensors calling trtops.ops, its inputs)."""
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, 8, 24, 20, generator=gen) + 0.25
    rois = _rois(gen, 11, 2, 60.0)
    levels = [torch.randn(2, 4, 32 // 2**i, 24 // 2**i, generator=gen) for i in range(3)]
    boxes = _boxes(gen, 300, 100.0)
    scores = torch.rand(300, generator=gen)
    classes = torch.randint(0, 4, (300,), generator=gen)
    dx = torch.randn(2, 8, 9, 11, generator=gen)
    dw = torch.randn(6, 4, 3, 3, generator=gen)
    db = torch.randn(6, generator=gen)
    doff = torch.randn(2, 2 * 2 * 9, 9, 11, generator=gen) * 2
    dmask = torch.rand(2, 2 * 9, 9, 11, generator=gen)
    return {
        "roi_align": (lambda x, r: ops.roi_align(x, r, (3, 4), 0.5, 2, True), (x, rois)),
        "roi_align_adaptive": (lambda x, r: ops.roi_align(x, r, 5, 0.25, -1, False), (x, rois)),
        "roi_align_channels_last": (
            lambda x, r: ops.roi_align(x, r, 3, 0.5, 2, True),
            (x.to(memory_format=torch.channels_last), rois),
        ),
        "ps_roi_align": (lambda x, r: ops.ps_roi_align(x, r, 2, 0.5, 2), (x, rois)),
        "roi_pool": (lambda x, r: ops.roi_pool(x, r, (2, 3), 0.5), (x, rois)),
        "ps_roi_pool": (lambda x, r: ops.ps_roi_pool(x, r, 2, 0.5), (x, rois)),
        "roi_align_box_list": (
            lambda x, a, b: ops.roi_align(x, [a, b], 3, 0.5, 2),
            (x, _boxes(gen, 5, 40.0), _boxes(gen, 3, 40.0)),
        ),
        "multi_scale_roi_align": (
            lambda a, b, c, r: ops.multi_scale_roi_align([a, b, c], r, 3, [0.25, 0.125, 0.0625], 2),
            (*levels, torch.cat([rois[:, :1], rois[:, 1:] * 2], dim=1)),
        ),
        "multi_scale_roi_align_mmdet": (
            lambda a, b, c, r: ops.multi_scale_roi_align(
                [a, b, c], r, 3, [1 / 6, 1 / 12, 1 / 24], 0, True, level_mapper="mmdet", finest_scale=16
            ),
            (*levels, torch.cat([rois[:, :1], rois[:, 1:] * 2], dim=1)),
        ),
        "nms": (lambda b, s: ops.nms(b, s, 0.5), (boxes, scores)),
        "batched_nms_padded": (
            lambda b, s, c: ops.batched_nms(b, s, c, 0.4, score_threshold=0.2, max_output_boxes=40, padded=True),
            (boxes, scores, classes),
        ),
        "deform_conv2d_v2": (
            lambda x, o, w, b, m: ops.deform_conv2d(x, o, w, b, padding=1, mask=m),
            (dx, doff, dw, db, dmask),
        ),
        "deform_conv2d_v1_strided": (
            lambda x, o, w: ops.deform_conv2d(x, o, w, stride=2, padding=(1, 0), dilation=(1, 2)),
            (dx, torch.randn(2, 2 * 2 * 9, 5, 4, generator=gen), dw),
        ),
    }


CASES = _cases()


def _same(got: Any, want: Any) -> None:
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            _same(g, w)
        return
    assert got.shape == want.shape and got.dtype == want.dtype
    assert got.stride() == want.stride(), "the memory format must be the eager call's"
    assert torch.equal(got, want)


def _kernel_nodes(graph: torch.fx.Graph) -> List[str]:
    return [
        str(node.target) for node in graph.nodes
        if node.op == "call_function" and str(node.target).startswith("trtops_kernels.")
    ]


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_call_equals_eager_in_one_graph(name: str) -> None:
    fn, args = CASES[name]
    graphs: List[torch.fx.GraphModule] = []

    def backend(gm: torch.fx.GraphModule, example_inputs: Any) -> Callable[..., Any]:
        graphs.append(gm)
        return gm.forward

    torch._dynamo.reset()
    compiled = torch.compile(fn, backend=backend, fullgraph=True)
    _same(compiled(*args), fn(*args))
    assert len(graphs) == 1
    assert len(_kernel_nodes(graphs[0].graph)) == 1, graphs[0].code


@pytest.mark.parametrize("name", sorted(CASES))
def test_exported_program_holds_the_kernel_op_and_runs_it(name: str) -> None:
    fn, args = CASES[name]

    class Wrapper(torch.nn.Module):
        def forward(self, *inputs: torch.Tensor) -> Any:
            return fn(*inputs)

    program = torch.export.export(Wrapper(), args)
    assert len(_kernel_nodes(program.graph)) == 1, program.graph_module.code
    _same(program.module()(*args), fn(*args))


def test_dynamic_shapes_reuse_the_compiled_graph() -> None:
    gen = torch.Generator().manual_seed(3)
    graphs: List[torch.fx.GraphModule] = []

    def backend(gm: torch.fx.GraphModule, example_inputs: Any) -> Callable[..., Any]:
        graphs.append(gm)
        return gm.forward

    def head(x: torch.Tensor, r: torch.Tensor, o: torch.Tensor, w: torch.Tensor, m: torch.Tensor,
             b: torch.Tensor, s: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return (ops.roi_align(x, r, 3, 0.5, 2, True), ops.ps_roi_align(x, r, 2, 0.5, -1),
                ops.deform_conv2d(x, o, w, padding=1, mask=m), ops.nms(b, s, 0.5))

    torch._dynamo.reset()
    compiled = torch.compile(head, backend=backend, dynamic=True, fullgraph=True)
    sizes = ((16, 20, 5, 50), (24, 18, 9, 120), (14, 30, 3, 300))
    for h, w, k, n in sizes:
        args = (torch.randn(2, 8, h, w, generator=gen), _rois(gen, k, 2, 40.0), torch.randn(2, 18, h, w, generator=gen),
                torch.randn(4, 8, 3, 3, generator=gen), torch.rand(2, 9, h, w, generator=gen),
                _boxes(gen, n, 60.0), torch.rand(n, generator=gen))
        _same(compiled(*args), head(*args))
    assert len(graphs) < len(sizes), "every new size compiled a new graph"
    torch._dynamo.reset()


def test_compiled_modules_with_trainable_parameters_run_inference_as_eager_ones() -> None:
    # The ops have no backward: eager results carry no autograd history, and compiled ones must
    # not fail to compile (aot_autograd would trace a backward) nor carry any either.
    gen = torch.Generator().manual_seed(5)
    module = ops.DeformConv2d(8, 4, 3, padding=1)
    x = torch.randn(1, 8, 10, 10, generator=gen, requires_grad=True)
    offset = torch.randn(1, 18, 10, 10, generator=gen, requires_grad=True)
    rois = _rois(gen, 4, 1, 8.0).requires_grad_()
    boxes, scores = _boxes(gen, 40, 20.0).requires_grad_(), torch.rand(40, generator=gen).requires_grad_()

    def head(x: torch.Tensor, offset: torch.Tensor, rois: torch.Tensor, boxes: torch.Tensor,
             scores: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        y = module(x, offset)
        return (y, ops.roi_align(y, rois, 2), ops.multi_scale_roi_align([y], rois, 2, [1.0], 2),
                ops.nms(boxes, scores, 0.5))

    torch._dynamo.reset()
    compiled = torch.compile(head, backend="aot_eager", fullgraph=True)
    got, want = compiled(x, offset, rois, boxes, scores), head(x, offset, rois, boxes, scores)
    for g, w in zip(got, want):
        assert not g.requires_grad and not w.requires_grad
        assert torch.equal(g, w)
    torch._dynamo.reset()


def test_unpadded_nms_exports_with_a_data_dependent_length() -> None:
    fn, (boxes, scores) = CASES["nms"]

    class Detections(torch.nn.Module):
        def forward(self, b: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
            return b[fn(b, s)]

    program = torch.export.export(Detections(), (boxes, scores))
    (out,) = [node for node in program.graph.nodes if node.op == "output"][0].args[0]
    assert isinstance(out.meta["val"].shape[0], torch.SymInt)
    assert torch.equal(program.module()(boxes, scores), boxes[torchvision.ops.nms(boxes, scores, 0.5)])


# An unpadded NMS has a data-dependent length: make_fx traces it symbolically only.
MAKE_FX_CASES = [(name, mode) for name in sorted(CASES) for mode in ("real", "fake", "symbolic")
                 if name != "nms" or mode == "symbolic"]


@pytest.mark.parametrize("name, mode", MAKE_FX_CASES)
def test_make_fx_records_the_kernel_op(name: str, mode: str) -> None:
    # A direct launch would be missing from the trace ("real": the graph would return the empty
    # output it allocated) or get fake tensors' null pointers ("fake", "symbolic").
    from torch.fx.experimental.proxy_tensor import make_fx

    fn, args = CASES[name]
    graph = make_fx(fn, tracing_mode=mode)(*args)
    assert len(_kernel_nodes(graph.graph)) == 1, graph.code
    _same(graph(*args), fn(*args))


@pytest.mark.parametrize("name", sorted(n for n in CASES if n != "nms"))
def test_jit_trace_records_the_kernel_op(name: str) -> None:
    # A direct launch is invisible to the JIT tracer: the traced graph would return the empty
    # output (it did), so a traced model gave whatever memory held on new inputs.
    fn, args = CASES[name]
    traced_fn = torch.jit.trace(fn, args, check_trace=False)
    kinds = [node.kind() for node in traced_fn.graph.nodes() if node.kind().startswith("trtops_kernels::")]
    assert len(kinds) == 1, traced_fn.graph
    other = tuple(a + 0.5 if a.is_floating_point() else a for a in args)  # new values, same shapes
    _same(traced_fn(*other), fn(*other))


def test_fake_tensor_mode_and_dispatch_modes_see_the_kernel_op() -> None:
    from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
    from torch.utils._python_dispatch import TorchDispatchMode

    fn, args = CASES["roi_align_channels_last"]
    with FakeTensorMode() as mode:
        out = fn(*[mode.from_tensor(a) for a in args])
    want = fn(*args)
    assert isinstance(out, FakeTensor) and out.shape == want.shape and out.stride() == want.stride()

    seen: List[str] = []

    class Log(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, a: tuple = (), kw: Any = None) -> Any:
            seen.append(str(func))
            return func(*a, **(kw or {}))

    for name in ("ps_roi_pool", "deform_conv2d_v2", "batched_nms_padded"):
        fn, args = CASES[name]
        with Log():
            got = fn(*args)
        _same(got, fn(*args))
    assert [op for op in seen if op.startswith("trtops_kernels.")] == [
        "trtops_kernels.ps_roi_pool.default", "trtops_kernels.deform_conv2d.default", "trtops_kernels.nms.default"]


def test_meta_tensors_give_shapes_without_running_a_kernel() -> None:
    x = torch.empty(2, 18, 7, 9, device="meta")
    rois = torch.empty(5, 5, device="meta")
    assert ops.roi_align(x, rois, (3, 2)).shape == (5, 18, 3, 2)
    assert ops.ps_roi_pool(x, rois, 3).shape == (5, 2, 3, 3)
    channels_last = ops.roi_pool(x.to(memory_format=torch.channels_last), rois, 2)
    assert channels_last.is_contiguous(memory_format=torch.channels_last)
    keep, count = ops.nms(torch.empty(9, 4, device="meta"), torch.empty(9, device="meta"), 0.5,
                          max_output_boxes=4, padded=True, index_dtype=torch.int32)
    assert keep.shape == (4,) and keep.dtype == torch.int32 and count.shape == ()
    with pytest.raises(ValueError, match="nms: meta tensors have no values to size the kept indices by"):
        ops.nms(torch.empty(9, 4, device="meta"), torch.empty(9, device="meta"), 0.5)
    w = torch.empty(4, 6, 3, 3, device="meta")
    offset = torch.empty(2, 18, 5, 7, device="meta")
    assert ops.deform_conv2d(x[:, :6], offset, w).shape == (2, 4, 5, 7)


def test_traced_calls_get_the_eager_shape_checks() -> None:
    x = torch.randn(1, 6, 8, 8)
    rois = torch.tensor([[0.0, 1.0, 1.0, 5.0, 5.0]])
    with pytest.raises(ValueError, match="ps_roi_align: input channels must be a multiple of"):
        ops.ps_roi_align(x.to("meta"), rois.to("meta"), 2)
    compiled = torch.compile(lambda x, o, w: ops.deform_conv2d(x, o, w, padding=1), backend="aot_eager")
    with pytest.raises(ValueError, match=r"deform_conv2d: offset.shape\[1\]=5 must be a positive multiple"):
        compiled(torch.randn(1, 4, 6, 6), torch.randn(1, 5, 6, 6), torch.randn(2, 4, 3, 3))
    torch._dynamo.reset()


@pytest.mark.parametrize("name", sorted(CASES))
def test_custom_op_registration(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fn, args = CASES[name]
    calls: List[Tuple[Any, tuple, dict]] = []

    class Record(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, a: tuple = (), kw: Any = None) -> Any:
            if str(func).startswith("trtops_kernels."):
                calls.append((func, a, kw or {}))
            return func(*a, **(kw or {}))

    # As if traced: the call goes through its custom op, with real tensors, whose result (the
    # custom op's real kernel) must be the eager one.
    eager = fn(*args)
    with monkeypatch.context() as patch, Record():
        patch.setattr(torch.compiler, "is_compiling", lambda: True)
        through_op = fn(*args)
    _same(through_op, eager)
    assert len(calls) == 1
    op, op_args, kwargs = calls[0]
    # Dynamic shapes of a data-dependent NMS output are what the export test above covers.
    tests = ("test_schema", "test_faketensor", "test_autograd_registration")
    torch.library.opcheck(op, op_args, kwargs, test_utils=tests)


def test_eager_calls_never_go_through_the_custom_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    entered: List[str] = []

    class Record(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, a: tuple = (), kw: Any = None) -> Any:
            if str(func).startswith("trtops_kernels."):
                entered.append(str(func))
            return func(*a, **(kw or {}))

    with Record():
        for fn, args in CASES.values():
            fn(*args)
    assert entered == []


def test_every_kernel_op_is_registered() -> None:
    for name in KERNEL_OPS:
        assert hasattr(torch.ops.trtops_kernels, name), name


@pytest.mark.slow
def test_inductor_compiles_a_detector_head_around_the_ops() -> None:
    # Inductor (C++ codegen on CPU) fuses the torch ops around the custom ops and calls them.
    fn_nms, (boxes, scores) = CASES["nms"]
    fn_roi, (x, rois) = CASES["roi_align"]

    def head(x: torch.Tensor, boxes: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        keep = ops.nms(boxes, scores.sigmoid(), 0.5)
        kept = boxes[keep][:8] / 4
        rois = torch.cat([torch.zeros_like(kept[:, :1]), kept], dim=1)
        return ops.roi_align(x, rois, 3, 1.0, 2).relu() * 2

    torch._dynamo.reset()
    compiled = torch.compile(head, fullgraph=True, backend="inductor")
    assert torch.equal(compiled(x, boxes, scores), head(x, boxes, scores))
    torch._dynamo.reset()


@pytest.mark.gpu
def test_compiled_cuda_calls_equal_eager() -> None:
    for name in ("roi_align_channels_last", "nms", "deform_conv2d_v2", "multi_scale_roi_align"):
        fn, args = CASES[name]
        cuda_args = tuple(a.cuda() for a in args)
        torch._dynamo.reset()
        compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
        _same(compiled(*cuda_args), fn(*cuda_args))
    torch._dynamo.reset()
