"""The fused backend: kernels vs the float64 reference on a GPU; builds and resources on the CPU.

GPU tests (``cuda`` marker, skipped without a GPU) compare the forward states and every input
gradient with the float64 reference: the fused error (relative norm) must be at most twice the
error of the reference run in the same dtype, plus a small tolerance. Outputs are poisoned (NaN)
before each launch, so an element the kernel forgets to write fails the test.
"""
import re
import subprocess

import pytest

torch = pytest.importorskip("torch")

from flashrnn_kernels import devices, jit  # noqa: E402
from flashrnn_kernels.backends import fused  # noqa: E402
from flashrnn_kernels.cells import get_cell  # noqa: E402
from flashrnn_kernels.reference import reference_forward  # noqa: E402
from flashrnn_kernels.tiling import Problem, kernel_config  # noqa: E402

DT = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
# float32 runs on tf32 tensor cores; its reference in the same precision is the float32 reference
# with every recurrent product's operands rounded to tf32 (_tf32_reference: allow_tf32 alone does
# not reach every shape, e.g. B=1 matrix-vector products stay exact float32)
TOL = {"bfloat16": 1e-2, "float16": 1e-3, "float32": 5e-4}
CELLS = ("lstm", "gru", "slstm", "elman")
SHAPES = [  # (B, T, N, D)
    (1, 7, 1, 32), (3, 128, 2, 64), (16, 7, 1, 200), (33, 7, 1, 768), (16, 128, 12, 64),
    (3, 1, 2, 64), (33, 128, 1, 32), (16, 7, 1, 768),
]


def _inputs(cell, B, T, N, D, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    c = get_cell(cell)
    Wx = torch.randn(B, T, c.num_gates, N, D, generator=g) * 0.5
    R = torch.randn(c.num_gates, N, D, D, generator=g) / D**0.5
    b = torch.randn(c.num_bias, N, D, generator=g) * 0.1
    s0 = torch.randn(c.num_states, B, 1, N, D, generator=g) * 0.5
    if c.name == "slstm":
        s0[2] = s0[2].abs() + 0.5
    dst = torch.randn(c.num_states, B, T, N, D, generator=g) * 0.1
    dla = torch.randn(c.num_states, B, 1, N, D, generator=g) * 0.1
    return [t.to(dtype).cuda() for t in (Wx, R, b, s0, dst, dla)]


def _run(fn, xs, dst, dla):
    ins = [t.detach().clone().requires_grad_(True) for t in xs]
    st, la = fn(*ins)
    (st.double() * dst.double()).sum().add((la.double() * dla.double()).sum()).backward()
    return [st, la] + [t.grad for t in ins]


def _round_tf32(x):
    """float32 -> nearest tf32 (10 mantissa bits, ties away from zero, as cvt.rna.tf32.f32)."""
    i = x.contiguous().view(torch.int32)
    return ((i + 0x1000) & ~0x1FFF).view(torch.float32)


class _TF32Operand(torch.autograd.Function):
    """Rounds an operand to tf32; the gradient passes straight through."""

    @staticmethod
    def forward(ctx, x):
        return _round_tf32(x)

    @staticmethod
    def backward(ctx, g):
        return g


class _TF32GradIn(torch.autograd.Function):
    """Identity; rounds the incoming gradient to tf32 (the backward product's operand)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return _round_tf32(g)


def _tf32_reference(*args, cell):
    """The float32 reference with tf32 recurrent products (as the kernel computes them)."""
    import flashrnn_kernels.reference as ref

    def rp(R, h):
        out = torch.einsum("gnoi,bni->bgno", _TF32Operand.apply(R), _TF32Operand.apply(h))
        return _TF32GradIn.apply(out)

    orig = ref.recurrent_preactivation
    old = torch.backends.cuda.matmul.allow_tf32
    ref.recurrent_preactivation = rp
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        return reference_forward(*args, cell=cell)
    finally:
        ref.recurrent_preactivation = orig
        torch.backends.cuda.matmul.allow_tf32 = old


def _rel(a, b):
    a, b = a.double(), b.double()
    assert torch.isfinite(a).all(), "non-finite values (unwritten output?)"
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def _compare(cell, dtname, B, T, N, D, seed=0):
    *xs, dst, dla = _inputs(cell, B, T, N, D, DT[dtname], seed)
    ref64 = _run(lambda *a: reference_forward(*a, cell=cell), [t.double() for t in xs], dst, dla)
    if dtname == "float32":  # the kernel's products are tf32
        refdt = _run(lambda *a: _tf32_reference(*a, cell=cell), xs, dst, dla)
    else:
        refdt = _run(lambda *a: reference_forward(*a, cell=cell), xs, dst, dla)
    out = _run(lambda *a: fused.flashrnn_fused(*a, cell=cell), xs, dst, dla)
    for name, o, r, r64 in zip(["states", "last", "dWx", "dR", "db", "dstates0"], out, refdt, ref64):
        e_f, e_r = _rel(o, r64), _rel(r, r64)
        assert e_f <= 2 * e_r + TOL[dtname], f"{name}: fused {e_f:.3g} vs reference {e_r:.3g}"


def _gpu():
    return devices.gpu_model(torch.cuda.current_device())


def _supported(cell, dtname, B, N, D):
    try:
        for k in "fb":
            fused.batch_plan(get_cell(cell), dtname, B, N, D, k, _gpu())
    except fused.UnsupportedError as e:
        pytest.skip(str(e))


@pytest.mark.cuda
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}T{}_{}x{}".format(*s))
@pytest.mark.parametrize("dtname", list(DT))
@pytest.mark.parametrize("cell", CELLS)
def test_fused_matches_reference(cell, dtname, shape, poison_empty):
    B, T, N, D = shape
    _supported(cell, dtname, B, N, D)
    _compare(cell, dtname, B, T, N, D)


@pytest.mark.cuda
@pytest.mark.parametrize("shape", [(3, 128, 2, 64), (16, 7, 1, 768)], ids=lambda s: "B{}T{}_{}x{}".format(*s))
@pytest.mark.parametrize("dtname", list(DT))
def test_fused_relu_elman_matches_reference(dtname, shape, poison_empty):
    B, T, N, D = shape
    _supported("elman_relu", dtname, B, N, D)
    _compare("elman_relu", dtname, B, T, N, D)


# heads whose R exceeds the registers a tiling may give it: the rest sits in shared memory
TIERED_SHAPES = [(16, 7, 1, 1024), (5, 9, 1, 1280), (8, 5, 1, 1000), (3, 6, 1, 768), (4, 5, 1, 2048),
                 (9, 4, 1, 1536), (3, 3, 1, 2560)]


@pytest.mark.cuda
@pytest.mark.parametrize("shape", TIERED_SHAPES, ids=lambda s: "B{}T{}_{}x{}".format(*s))
@pytest.mark.parametrize("dtname", list(DT))
@pytest.mark.parametrize("cell", CELLS)
def test_fused_with_r_in_shared_memory_matches_reference(cell, dtname, shape, poison_empty):
    B, T, N, D = shape
    _supported(cell, dtname, B, N, D)
    plans = [fused.batch_plan(get_cell(cell), dtname, B, N, D, k, _gpu())[1] for k in "fb"]
    if not any(cfg["R_SMEM_BYTES"] for cfg in plans):
        pytest.skip(f"R of {cell} {dtname} 1x{D} fits the registers of this GPU's tilings")
    _compare(cell, dtname, B, T, N, D)


@pytest.mark.cuda
@pytest.mark.slow
def test_fused_long_sequence():
    _compare("lstm", "bfloat16", 3, 8192, 2, 64)


@pytest.mark.cuda
def test_fused_through_registry():
    from flashrnn_kernels import flashrnn

    *xs, dst, dla = _inputs("lstm", 4, 9, 2, 64, torch.bfloat16, 3)
    a = flashrnn(*xs, cell="lstm", backend="fused")
    r = reference_forward(*[t.double() for t in xs], cell="lstm")
    assert _rel(a[0], r[0]) < 2e-2


@pytest.mark.cuda
def test_first_forward_with_gradients_starts_the_backward_build(monkeypatch):
    """A forward that will need a backward starts that backward's build (fused.prebuild) once per
    problem, for the backward's own tiling; a forward without gradients starts none."""
    from flashrnn_kernels import flashrnn

    started = []
    monkeypatch.setattr(fused, "prebuild", lambda config, arch, compiler=None: started.append(config))
    monkeypatch.setattr(fused, "_BACKWARD_BUILDS", set())
    xs = [t.requires_grad_() for t in _inputs("gru", 5, 7, 2, 64, torch.bfloat16, 4)[:4]]
    with torch.no_grad():
        flashrnn(*xs, cell="gru", backend="fused")
    assert started == []
    for _ in range(2):
        st, _ = flashrnn(*xs, cell="gru", backend="fused")
        st.float().sum().backward()
    assert [(c.problem.cell, c.problem.pass_, c.problem.batch_size) for c in started] == [("gru", "backward", 5)]


@pytest.mark.cuda
def test_fused_inference_matches_training_forward():
    """Without gradients the registry runs the cache-less inference op: same states."""
    from flashrnn_kernels import flashrnn

    *xs, _, _ = _inputs("lstm", 5, 17, 2, 64, torch.bfloat16, 4)
    ins = [t.clone().requires_grad_(True) for t in xs]
    a = flashrnn(*ins, cell="lstm", backend="fused")
    with torch.no_grad():
        b = flashrnn(*ins, cell="lstm", backend="fused")
    c = flashrnn(*xs, cell="lstm", backend="fused")
    for u, v, w in zip(a, b, c):
        assert torch.equal(u.detach(), v) and torch.equal(v, w)


def _variant(cfg, extra=()):
    """The kernels of ``cfg`` for sm_90a built with extra defines ``"NAME=VALUE"``."""
    return fused.kernels(cfg, "90a", {e.split("=")[0]: int(e.split("=")[1]) for e in extra})


@pytest.mark.cuda
@pytest.mark.parametrize("B", [16, 33])
def test_fused_backward_same_result_for_every_cluster_size(B, poison_empty):
    """On sm_90a the backward of a head split over blocks fetches its operand by bulk copies,
    multicast within thread-block clusters. The data movement must not change one bit of the
    gradients: builds with at most 1, 2 and 16 blocks per cluster, and the per-thread copy
    (FRNN_BWD_BULK=0), against each other. B=33 leaves a partial last batch tile (fewer rows
    than blocks in a cluster). The head is split over 48 blocks (fixed: the model's own choice
    may be a split that 16 does not divide), so that 16-block clusters fit it."""
    if torch.cuda.get_device_capability() != (9, 0):
        pytest.skip("the bulk-copy backward is built for sm_90a only")
    cell, N, D, T = "lstm", 1, 768, 33
    chunk = B
    cfg = kernel_config(Problem(cell, B, N, D, "bfloat16", "backward"), _gpu(), fixed={"NSLICE": 48})
    assert B % cfg["BT"] != 0 or B == 16, cfg
    *xs, dst, _ = _inputs(cell, B, T, N, D, torch.bfloat16, 5)
    Wx, R, b, s0 = xs
    states, _, cache = fused.fused_forward(Wx, R, b, s0, cell, True)
    results, clusters = {}, {}
    for extra in ("FRNN_CLUSTER=1", "FRNN_CLUSTER=2", "FRNN_CLUSTER=16", "FRNN_BWD_BULK=0"):
        k = _variant(cfg, (extra,))
        clusters[extra] = k.backward_cluster(B, N)
        results[extra] = fused.fused_backward(R, b, s0, states, cache, dst, None, cell, (chunk, k))
    assert clusters["FRNN_CLUSTER=1"] == 1 and clusters["FRNN_CLUSTER=2"] == 2
    assert clusters["FRNN_CLUSTER=16"] in (8, 16), clusters  # 16 where the GPU can co-schedule it
    base = results["FRNN_BWD_BULK=0"]
    for extra, res in results.items():
        for name, a, c in zip(["dWx", "dR", "db", "dstates0"], res, base):
            assert torch.isfinite(a).all(), (extra, name)
            assert torch.equal(a, c), f"{extra}: {name} differs from the per-thread copy"


# tilings whose heads fit one thread-block cluster (2..16 blocks): the cluster exchange tests
CLUSTER_TILINGS = [
    ("lstm", torch.bfloat16, 16, 2, 256, 16, 8),   # 4 clusters of 16 blocks, 16-byte chunks
    ("lstm", torch.bfloat16, 33, 1, 256, 16, 16),  # one row in the last batch tile
    ("gru", torch.float16, 5, 2, 200, 20, 8),      # 10 blocks, 8-byte chunks
    ("slstm", torch.bfloat16, 3, 2, 96, 12, 8),    # 8 blocks (a portable cluster size)
    ("elman", torch.float32, 4, 2, 90, 18, 8),     # float32, 5 blocks, 8-byte chunks
    ("lstm", torch.bfloat16, 2, 2, 100, 50, 8),    # 2 blocks, 4-byte chunks
]


def _cluster_tiling(cell, dtype, B, N, D, U, bt):
    """(dtype name, config) of the tiling with U units per block and batch tile bt (the rest
    chosen by the model), whose head fits one cluster; skips off sm_90a."""
    if torch.cuda.get_device_capability() != (9, 0):
        pytest.skip("the cluster exchange is built for sm_90a only")
    dtname = {v: k for k, v in DT.items()}[dtype]
    nslice = -(-D // U)
    cfg = kernel_config(Problem(cell, B, N, D, dtname, "both"), _gpu(), fixed={"NSLICE": nslice, "BT": bt})
    assert cfg["U"] == U and 2 <= cfg["NSLICE"] <= 16, cfg
    return dtname, cfg


@pytest.mark.cuda
@pytest.mark.parametrize("cell,dtype,B,N,D,U,bt", CLUSTER_TILINGS)
def test_fused_forward_cluster_exchange_same_result(cell, dtype, B, N, D, U, bt, poison_empty):
    """On sm_90a a head whose blocks fit one thread-block cluster exchanges h through distributed
    shared memory instead of L2 (when the GPU holds all clusters at once). The exchange must not
    change one bit of the outputs: the build with it against the same tiling built without it
    (FRNN_FWD_DSM=0), both against the float64 reference."""
    dtname, cfg = _cluster_tiling(cell, dtype, B, N, D, U, bt)
    T = 37
    *xs, _, _ = _inputs(cell, B, T, N, D, dtype, 11)
    results, clusters = {}, {}
    for extra in ("", "FRNN_FWD_DSM=0"):
        k = _variant(cfg, (extra,) if extra else ())
        clusters[extra] = k.forward_cluster(B, N)
        results[extra] = fused.fused_forward(*xs, cell, True, kernels=k)
        torch.cuda.synchronize()
    assert clusters == {"": cfg["NSLICE"], "FRNN_FWD_DSM=0": 1}, clusters
    r64 = reference_forward(*[t.double() for t in xs], cell=cell)[0]
    rdt = (_tf32_reference if dtype == torch.float32 else reference_forward)(*xs, cell=cell)[0]
    e_f, e_r = _rel(results[""][0], r64), _rel(rdt, r64)
    assert e_f <= 2 * e_r + TOL[dtname], f"fused {e_f:.3g} vs reference {e_r:.3g}"
    for name, a, b in zip(["states", "last", "cache"], results[""], results["FRNN_FWD_DSM=0"]):
        assert torch.isfinite(a).all(), name
        assert torch.equal(a, b), f"{name} differs between the cluster and the L2 exchange"


@pytest.mark.cuda
@pytest.mark.parametrize("cell,dtype,B,N,D,U,bt", CLUSTER_TILINGS)
def test_fused_backward_cluster_exchange_same_result(cell, dtype, B, N, D, U, bt, poison_empty):
    """The backward's gate gradients through distributed shared memory within one cluster per
    head (sm_90a, when the GPU holds all clusters at once; built on here also where the default
    leaves it off for its bytes per step) must give the same bits as the same tiling built without
    it (FRNN_BWD_DSM=0: flags and L2), and gradients near float64's."""
    dtname, cfg = _cluster_tiling(cell, dtype, B, N, D, U, bt)
    T = 37
    *xs, dst, _ = _inputs(cell, B, T, N, D, dtype, 13)
    Wx, R, b, s0 = xs
    states, _, cache = fused.fused_forward(Wx, R, b, s0, cell, True, kernels=_variant(cfg))
    results, used = {}, {}
    for extra in ("FRNN_BWD_DSM_BYTES=1000000", "FRNN_BWD_DSM=0"):
        k = _variant(cfg, (extra,))
        used[extra] = int(k.backward_in_cluster(B, N))
        results[extra] = fused.fused_backward(R, b, s0, states, cache, dst, None, cell, (B, k))
        torch.cuda.synchronize()
    assert used == {"FRNN_BWD_DSM_BYTES=1000000": 1, "FRNN_BWD_DSM=0": 0}, used
    dsm, l2 = results["FRNN_BWD_DSM_BYTES=1000000"], results["FRNN_BWD_DSM=0"]
    for name, a, o in zip(["dWx", "dR", "db", "dstates0"], dsm, l2):
        assert torch.isfinite(a).all(), name
        assert torch.equal(a, o), f"{name} differs between the cluster and the L2 exchange"
    # dWx against float64 autograd through the reference (and the storage type's own error)
    grads = []
    for dt in (torch.float64, dtype):
        x = Wx.to(dt).requires_grad_(True)
        ref = _tf32_reference if dt == torch.float32 else reference_forward
        st = ref(x, R.to(dt), b.to(dt), s0.to(dt), cell=cell)[0]
        (st.double() * dst.double()).sum().backward()
        grads.append(x.grad)
    e_f, e_r = _rel(dsm[0], grads[0]), _rel(grads[1], grads[0])
    assert e_f <= 2 * e_r + TOL[dtname], f"fused dWx {e_f:.3g} vs reference {e_r:.3g}"


@pytest.mark.parametrize("B,T", [(1, 1), (1, 6), (4, 1), (5, 9)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_recurrent_grad_one_head_matches_shifted_states(B, T, dtype):
    g = torch.Generator().manual_seed(B * 100 + T)
    K, D = 12, 5
    dg, h, h0 = (torch.randn(*shape, generator=g).to(dtype) for shape in ((B, T, K), (B, T, D), (B, D)))
    got = fused._recurrent_grad_one_head(dg, h, h0)
    # float64 products of the same (rounded) inputs, h_{t-1} with h0 at t = 0
    hprev = torch.cat([h0[:, None], h[:, : T - 1]], dim=1).double()
    want = dg.double().reshape(B * T, K).t() @ hprev.reshape(B * T, D)
    assert got.dtype == dtype and got.shape == (K, D)
    tol = 1e-6 if dtype == torch.float64 else 2e-2  # float32 correction terms; bfloat16 output
    assert (got.double() - want).abs().max() <= tol * (1 + want.abs().max())


class _SizeOf:
    """A stand-in build's ``frnn_xch_bytes``: none for the backward, 40 bytes per batch row for
    the forward; records what it was asked."""

    def __init__(self):
        self.asked = []

    def __call__(self, B, N, backward):
        self.asked.append((B, N, backward))
        return 0 if backward else 40 * B


def test_exchange_size_is_asked_once_and_a_placeholder_kept_where_none_is_needed():
    """``Exchanges.take`` on the CPU with a stand-in build: the size is asked once per (batch,
    heads, pass, device); a launch that needs no exchange gets one kept placeholder and base 0,
    one that needs it a zeroed buffer of whole 16-byte words."""
    size_of = _SizeOf()
    x = fused.Exchanges(size_of)
    cpu = torch.device("cpu")
    first, base = x.take(2, 1, True, cpu, 10)
    assert base == 0 and x.take(2, 1, True, cpu, 10)[0] is first and x.take(5, 3, True, cpu, 3)[0] is first
    a, base = x.take(2, 1, False, cpu, 5)
    assert base == 0 and a.dtype == torch.int32 and a.numel() * 4 == 80 and not a.any()
    assert size_of.asked == [(2, 1, 1), (5, 3, 1), (2, 1, 0)]


def test_exchange_buffers_are_kept_and_their_tags_continue_until_they_would_wrap():
    """Each launch's tag base follows the last launch's tags (base + T) on the same kept buffer,
    per (batch, heads, pass, device, stream); before base + T would pass the largest tag the
    buffer is zeroed again and the base restarts at 0; the oldest of too many buffers goes."""
    x = fused.Exchanges(lambda B, N, backward: 64)
    x.fwd_tag_max, x.bwd_tag_max = 100, 1000
    cpu = torch.device("cpu")
    buf, base = x.take(4, 1, False, cpu, 30)
    assert base == 0 and buf.numel() == 16 and not buf.any()
    bases = []
    for T in (30, 30, 7, 50, 7):
        got, b = x.take(4, 1, False, cpu, T)
        assert got is buf and (b > 0 or not buf.any())  # a restart finds the buffer zeroed
        bases.append(b)
        buf.fill_(b + T)  # stands in for the launch's last tags
    assert bases == [30, 60, 90, 0, 50]  # 97 + 50 > 100: zeroed, then from 0
    other, b = x.take(4, 1, False, cpu, 10, stream=7)  # another stream: a buffer of its own
    assert other is not buf and b == 0
    back, b = x.take(4, 1, True, cpu, 900)  # the backward keeps its own base and bound
    assert back is not buf and b == 0 and x.take(4, 1, True, cpu, 100)[1] == 900
    assert x.take(4, 1, True, cpu, 1)[1] == 0  # 1000 + 1 > 1000
    for s in range(fused._EXCHANGES_KEPT):
        x.take(4, 1, False, cpu, 1, stream=100 + s)
    assert x.take(4, 1, False, cpu, 1)[0] is not buf  # the first buffer was the oldest, and went


def test_launches_pass_the_exchange_base_and_hold_the_lock(monkeypatch):
    """``fused_forward`` and ``fused_backward`` on the CPU with a stand-in build: each launch gets
    the kept exchange buffer and the base after the last launch's tags (forward and backward
    counting apart), taken and passed while the build's lock is held; a batch in chunks launches
    once per chunk, each chunk size with a buffer of its own."""
    launches = []

    class Lib:
        def frnn_xch_bytes(self, B, N, backward):
            return 64 * B

        def frnn_fwd_launch(self, *args):
            launches.append(("f", args[8], args[9], args[11], args[7], k.exchanges.lock.locked()))
            return 0

        def frnn_bwd_launch(self, *args):
            launches.append(("b", args[9], args[10], args[12], args[8], k.exchanges.lock.locked()))
            return 0

    k = object.__new__(fused.FusedKernels)
    k.lib = Lib()
    k.exchanges = fused.Exchanges(k.lib.frnn_xch_bytes)
    monkeypatch.setattr(fused.devices, "stream_handle", lambda index: 7)
    monkeypatch.setattr(fused.devices, "on_device", lambda index, fn, *args: fn(*args))
    cell, (B, N, D) = get_cell("lstm"), (4, 1, 8)
    cpu = torch.device("cpu")

    def forward(T):
        Wx = torch.zeros(B, T, 4, N, D)
        return fused.fused_forward(Wx, torch.zeros(4, N, D, D), None, None, cell, True, kernels=k)

    def backward(states, cache, chunk):
        R = torch.zeros(4, N, D, D)
        return fused.fused_backward(R, None, None, states, cache, None, None, cell, (chunk, k))

    for T in (5, 3):
        states, _, cache = forward(T)
    backward(states, cache, B)
    backward(states, cache, 3)  # chunks of 3 and 1 rows
    got = [(kind, b, t, base, locked) for kind, b, t, base, _xch, locked in launches]
    assert got == [("f", 4, 5, 0, True), ("f", 4, 3, 5, True), ("b", 4, 3, 0, True),
                   ("b", 3, 3, 0, True), ("b", 1, 3, 0, True)]
    xch = [x for *_, x, _ in launches]
    assert xch[0] == xch[1] == k.exchanges.take(B, N, False, cpu, 1, 7)[0].data_ptr()
    assert len({xch[2], xch[3], xch[4]}) == 3  # one buffer per batch of a launch
    assert not k.exchanges.lock.locked()


@pytest.mark.cuda
@pytest.mark.parametrize("cell,dtname,B,D", [("lstm", "bfloat16", 16, 768), ("gru", "float32", 8, 384)])
def test_repeated_launches_reuse_the_exchange_and_give_the_same_bits(cell, dtname, B, D, poison_empty):
    """Heads split over several blocks that exchange through L2 keep their exchange buffer from
    launch to launch; each launch's tags continue after the last's. Launches of T = 50 and T = 7
    taking turns (so that the words a launch leaves are ones a launch of the other length would
    wait for, were the tags to restart), with the largest tag lowered so that the buffers are
    zeroed again every few launches, and on a second stream, must give the first launch's bits
    every time, forward and backward."""
    dtype, N = DT[dtname], 1
    kf = fused.kernels(kernel_config(Problem(cell, B, N, D, dtname, "forward"), _gpu()))
    kb = fused.kernels(kernel_config(Problem(cell, B, N, D, dtname, "backward"), _gpu()))
    assert kf.forward_cluster(B, N) == 1 and not kb.backward_in_cluster(B, N), "not an L2 exchange"
    inputs = {T: _inputs(cell, B, T, N, D, dtype, T) for T in (50, 7)}

    def run(T):
        Wx, R, b, s0, dst, _ = inputs[T]
        states, last, cache = fused.fused_forward(Wx, R, b, s0, cell, True, kernels=kf)
        grads = fused.fused_backward(R, b, s0, states, cache, dst, None, cell, (B, kb))
        return (states, last, cache, *grads)

    first = {T: run(T) for T in (50, 7)}
    saved = [(k.exchanges.fwd_tag_max, k.exchanges.bwd_tag_max) for k in (kf, kb)]
    try:
        for k in (kf, kb):
            k.exchanges.fwd_tag_max = k.exchanges.bwd_tag_max = 120
        side = torch.cuda.Stream()
        for stream in (torch.cuda.current_stream(), side):
            with torch.cuda.stream(stream):
                for T in (7, 50, 50, 7, 7, 50, 7, 50, 50, 50, 7):
                    got = run(T)
                    for name, a, o in zip(["states", "last", "cache", "dWx", "dR", "db", "dstates0"], got, first[T]):
                        assert torch.equal(a, o), f"T={T}: {name} differs from the first launch's"
            torch.cuda.synchronize()
    finally:
        for k, (f, bw) in zip((kf, kb), saved):
            k.exchanges.fwd_tag_max, k.exchanges.bwd_tag_max = f, bw
    for T in (50, 7):
        st, r64 = first[T][0], reference_forward(*[t.double() for t in inputs[T][:4]], cell=cell)[0]
        rdt = (_tf32_reference if dtype == torch.float32 else reference_forward)(*inputs[T][:4], cell=cell)[0]
        assert _rel(st, r64) <= 2 * _rel(rdt, r64) + TOL[dtname]


def test_the_inference_op_is_made_once_and_found_without_a_compile_warning():
    """``torch.compile`` of a fused call looks the inference op up while it traces: the lookup
    must give the one op and no warning (Dynamo warns on, and traces through, functions behind
    ``functools`` caches)."""
    import warnings

    op = fused._inference_op()
    assert fused._inference_op() is op

    def lookup(x):
        assert fused._inference_op() is op
        return x + 1

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch._dynamo.reset()
        assert torch.equal(torch.compile(lookup, backend="eager")(torch.ones(3)), torch.full((3,), 2.0))
    assert not [w for w in caught if "lru_cache" in str(w.message)], [str(w.message) for w in caught]


def test_bias_gradient_runs_cover_every_bias_row_in_order():
    for name in ("lstm", "gru", "slstm", "elman", "elman_relu"):
        cell = get_cell(name)
        rows = [(side, g) for side, g0, g1 in fused._bias_runs(cell) for g in range(g0, g1)]
        assert rows == list(cell.bias_rows), name


def test_round_tf32():
    x = torch.tensor([1.0, 1.0 + 2**-11, 1.0 + 2**-12, -(1.0 + 2**-11), 3.0e-3])
    y = _round_tf32(x)
    assert y[0] == 1.0 and y[1] == 1.0 + 2**-10 and y[2] == 1.0 and y[3] == -(1.0 + 2**-10)
    assert (y.view(torch.int32) & 0x1FFF == 0).all()


# ------------------------------------------------------------------------------ CPU: builds
NVCC = jit.nvcc_path()
CONFIG_PROBLEMS = [("lstm", "bfloat16", 16, 1, 768, "f"), ("lstm", "bfloat16", 16, 1, 768, "b"),
                   ("gru", "float16", 16, 12, 64, "f"), ("slstm", "bfloat16", 33, 1, 200, "b"),
                   ("elman", "float32", 16, 2, 64, "f"),
                   # R partly in shared memory
                   ("lstm", "bfloat16", 16, 1, 1024, "b"), ("lstm", "bfloat16", 16, 1, 1280, "f"),
                   ("gru", "float32", 16, 1, 768, "b"), ("lstm", "bfloat16", 16, 1, 1536, "f"),
                   ("gru", "bfloat16", 9, 1, 1536, "b")]


def _nvcc(cfg, arch, out, mode):
    """Build the fused kernels of ``cfg`` for ``arch`` as the backend does (``mode``: -shared or
    -cubin), with ptxas's resource report; returns the compiler's stderr."""
    cmd = jit.nvcc_command([jit.CSRC / s for s in fused.SOURCES], out, arch=arch,
                           defines=fused.build_defines(cfg, arch), mode=mode, extra_flags=["-Xptxas", "-v"])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stderr


@pytest.mark.skipif(NVCC is None, reason="nvcc not found (CUDA toolkit not installed)")
@pytest.mark.parametrize("arch", ["80", "90a"])
@pytest.mark.parametrize("problem", CONFIG_PROBLEMS, ids=lambda p: "-".join(map(str, p)))
def test_fused_config_builds_without_spills(problem, arch, tmp_path):
    cell, dt, B, N, D, kernel = problem
    cfg = fused.choose_config(cell, dt, B, N, D, "h100", kernel=kernel)
    report = _nvcc(cfg, arch, tmp_path / "k.cubin", "-cubin")
    name = {"f": "frnn_fwd", "b": "frnn_bwd"}[kernel]
    block = report.split(f"Compiling entry function '{name}'")[1].split("Compiling entry")[0]
    assert re.search(r"\b0 bytes spill stores", block), block
    assert re.search(r"\b0 bytes stack frame", block), block


# (region define, change in bytes, what the kernel says): each region of the shared memory the model
# requests must hold what the kernels put there, and each request must be its regions
SMEM_CHECKS = [
    ("FRNN_SMEM_FWD", 16, "the request is its regions (FRNN_SMEM_FWD =="),
    ("FRNN_SMEM_FWD_TILE", -16, "two plain operand tiles [BT][XROW] fit FRNN_SMEM_FWD_TILE"),
    ("FRNN_SMEM_FWD_SUMS", 64, "FRNN_SMEM_FWD_SUMS holds the partial sums"),
    ("FRNN_SMEM_FWD_RING", -16, "FRNN_SMEM_FWD_RING holds the input-gate ring"),
    ("FRNN_SMEM_BWD", -16, "the request is its regions (FRNN_SMEM_BWD =="),
    ("FRNN_SMEM_BWD_TILE", 16, "FRNN_SMEM_BWD_TILE holds the operand tile"),
    ("FRNN_SMEM_BWD_SUMS", -64, "FRNN_SMEM_BWD_SUMS holds the partial sums"),
    ("FRNN_SMEM_BWD_DSM", 16, "two tiles, the sums and R (FRNN_SMEM_BWD_DSM =="),
    ("FRNN_SMEM_FWD_R", 512, "FRNN_SMEM_FWD_R holds the fragments of R"),
    ("FRNN_SMEM_BWD_R", 512, "FRNN_SMEM_BWD_R holds the fragments of R^T"),
    ("FRNN_FWD_KSR", -1, "FRNN_SMEM_FWD_R holds the fragments of R"),
]


@pytest.mark.skipif(NVCC is None, reason="nvcc not found (CUDA toolkit not installed)")
@pytest.mark.parametrize("define, delta, message", SMEM_CHECKS, ids=[c[0] for c in SMEM_CHECKS])
def test_kernels_check_the_models_shared_memory(define, delta, message, tmp_path):
    """The kernels take their shared memory from the model (the configurations above build with
    it, test_fused_config_builds_without_spills); a define that disagrees with the layout they
    index is a compile error naming the region."""
    cfg = fused.choose_config("lstm", "bfloat16", 16, 12, 64, "h100", kernel="fb")  # with the ring
    assert cfg["SMEM_F_RING"] > 0
    defines = fused.build_defines(cfg, "80")
    defines[define] += delta
    cmd = jit.nvcc_command([jit.CSRC / s for s in fused.SOURCES], tmp_path / "k.cubin", arch="80",
                           defines=defines, mode="-cubin")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr[-4000:]


@pytest.mark.skipif(NVCC is None, reason="nvcc not found (CUDA toolkit not installed)")
def test_fused_kernels_need_the_models_defines(tmp_path):
    """Built without a define the model gives, the kernels say which one is missing."""
    cfg = fused.choose_config("gru", "float16", 16, 12, 64, "h100", kernel="f")
    defines = fused.build_defines(cfg, "80")
    del defines["FRNN_FWD_PF"]
    cmd = jit.nvcc_command([jit.CSRC / s for s in fused.SOURCES], tmp_path / "k.cubin", arch="80",
                           defines=defines, mode="-cubin")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode != 0 and "-DFRNN_FWD_PF missing" in proc.stderr, proc.stderr[-4000:]


def test_choose_config_rejects_with_reason():
    with pytest.raises(fused.UnsupportedError, match="no tiling"):
        fused.choose_config("lstm", "float32", 16, 1, 4096, "h100")
