"""Why a problem has no configuration, and what would work (only on the error path).

Which resources bind is found by re-solving the model with one budget lifted at a time (then all
together); every suggestion (batch chunks, more heads of the same hidden size, a 16-bit dtype,
separate forward and backward builds, the other backend) is checked by solving it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import hwmodels

from ..cells import get_cell
from .config import mb
from .models import SPECS, ModelSpec, model_inputs, relaxed, resource_kinds
from .problem import ELEMENT_BYTES, InfeasibleConfigError, Problem

if TYPE_CHECKING:
    import constrint as ci


def _feasible(problem: Problem, gpu: hwmodels.GPU) -> bool:
    spec = SPECS[problem.backend]
    return spec.solve(model_inputs(spec, problem, hwmodels.constants(gpu)))[1] is not None


def diagnose(spec: ModelSpec, problem: Problem, gpu: hwmodels.GPU, inputs: dict[str, int],
             reduced: ci.Reduction, fixed: dict[str, int] | None = None) -> InfeasibleConfigError:
    """The :class:`InfeasibleConfigError` for a problem whose model has no solution (with the
    decisions ``fixed`` given those values)."""
    fixed = fixed or {}
    cell = get_cell(problem.cell)
    heads = f"{problem.num_heads} head{'s' if problem.num_heads != 1 else ''}"
    passes = {"forward": "forward pass", "backward": "backward pass", "both": "forward and backward pass"}
    article = "a" if cell.name == "gru" else "an"  # an LSTM, an sLSTM, an Elman RNN, a GRU
    what = (f"{spec.backend}: no tiling of {article} {cell.name} head of "
            f"{problem.head_dim} units ({problem.dtype}, batch {problem.batch_size}, {heads}, "
            f"{passes[problem.pass_]}) fits the {gpu.name}")
    if fixed:
        what += " with " + ", ".join(f"{k} = {v}" for k, v in fixed.items())
    reasons: list[str] = []
    binding: list[str] = []
    for kind in resource_kinds(spec):
        red, res = spec.solve(inputs, relaxed(spec, kind, inputs), fixed)
        if res is not None:
            binding.append(kind)
            reasons.append(_reason(spec, kind, problem, gpu, inputs, red, reduced))
    if not binding and reduced.violated:
        binding.append("requirement")
        for st in reduced.violated:
            why = f" ({st.comment})" if st.comment else ""
            reasons.append(f"the kernel's requirement '{st.text}' fails{why}")
    elif not binding:
        kinds = resource_kinds(spec)
        pairs = []
        for i, a in enumerate(kinds):
            for b in kinds[i + 1:]:
                if spec.solve(inputs, {**relaxed(spec, a, inputs), **relaxed(spec, b, inputs)}, fixed)[1]:
                    pairs.append(f"{a} and {b}")
        if pairs:
            binding.extend(k for k in kinds if any(k in p for p in pairs))
            reasons.append("no single budget is the obstacle, but lifting " + ", or ".join(pairs)
                           + " together would do")
        else:
            binding.extend(kinds)
            reasons.append("no single budget and no pair of them is the obstacle")
    if spec.backend == "fused":
        total = r_bytes(problem) * problem.num_heads
        chip = on_chip_bytes(gpu)
        if total > chip:
            reasons.insert(0, f"R of {heads} is {mb(total)} ({cell.num_gates} x {problem.head_dim}^2 x "
                              f"{r_bytes(problem) // (cell.num_gates * problem.head_dim ** 2)} B per head) "
                              f"and all registers and shared memory of the {gpu.name} hold about {mb(chip)}")
    suggestions = _suggestions(problem, gpu) if not fixed else _unfixed(spec, problem, gpu, inputs, fixed)
    msg = what + ": " + "; ".join(reasons) + "."
    if suggestions:
        msg += " What would work: " + "; or ".join(suggestions) + "."
    return InfeasibleConfigError(msg, problem, gpu.name, tuple(binding), tuple(suggestions), tuple(fixed.items()))


_NEEDS = {  # (backend, kind) -> (quantity to minimise with that budget lifted, its limit, wording)
    ("fused", "registers"): ("REGS", "REG_BUDGET", "registers per thread"),  # (_registers_reason)
    ("fused", "SMs"): ("BLOCKS", "NUM_SMS", "blocks resident at once (one per SM)"),
    ("fused", "shared memory"): ("SMEM", "SMEM_PER_BLOCK_OPTIN", "B of shared memory per block"),
    ("fused", "threads"): ("NT", "MAX_THREADS_PER_BLOCK", "threads per block"),
    ("alternating", "registers"): ("BLOCK_REGS", "REGS_PER_BLOCK", "registers per block"),
    ("alternating", "warps"): ("SM_WARPS", "MAX_WARPS_PER_SM", "warps per SM"),
    ("alternating", "SMs"): ("BLOCKS", "NUM_SMS", "blocks"),
    ("alternating", "threads"): ("THREADS", "MAX_THREADS_PER_BLOCK", "threads per block"),
}


def _least(red: ci.Reduction, expr: ci.Expr) -> dict[str, int] | None:
    """The decisions of ``red`` (a throwaway reduction: its model is changed) that minimise ``expr``."""
    red.model.minimize(expr)
    res = red.model.solve()
    return dict(res.values) if res.ok else None


def _reason(spec: ModelSpec, kind: str, problem: Problem, gpu: hwmodels.GPU, inputs: dict[str, int],
            red: ci.Reduction, base: ci.Reduction) -> str:
    """How much of ``kind`` the problem needs at least (the model solved with that budget lifted,
    minimising its use) against what the GPU or the kernel allows."""
    name, limit_name, words = _NEEDS[(spec.backend, kind)]
    if spec.backend == "fused" and kind == "registers":
        return _registers_reason(problem, red, base)
    expr = red.expression(name)
    dec = _least(red, expr)
    limit = inputs.get(limit_name)
    if limit is None:  # a fact of the kernel (a constant definition of the model)
        limit = int(base.expression(limit_name).evaluate({}))
    if dec is None:  # pragma: no cover - the relaxed model had a solution a moment ago
        return f"{kind}: the budget is too small"
    need = int(expr.evaluate(dec))
    where = f"the {gpu.name} has {limit:,}" if kind in ("SMs", "shared memory", "threads", "warps") else \
        f"at most {limit:,}"
    return f"{kind}: it needs at least {need:,} {words}; {where}"


def _registers_reason(problem: Problem, red: ci.Reduction, base: ci.Reduction) -> str:
    """The fused kernel's registers: the split that overshoots its register budget least with
    all of R in registers (what exceeds them would sit in shared memory, which did not do)."""
    import constrint

    over = [red.expression(f"A_{k}") + red.expression(f"OTHER_{k}") - red.expression("REG_BUDGET")
            for k, on in (("F", problem.forward), ("B", problem.backward)) if on]
    dec = _least(red, constrint.max_(over))
    if dec is None:  # pragma: no cover - the relaxed model had a solution a moment ago
        return "registers: the budget is too small"
    d = base.complete(dec)  # the real budgets of this split
    k = max((k for k, on in (("F", problem.forward), ("B", problem.backward)) if on),
            key=lambda k: d[f"A_{k}"] + d[f"OTHER_{k}"] - d["REG_BUDGET"])
    which = "forward" if k == "F" else "backward"
    split = f"{d['NSLICE']} block{'s' if d['NSLICE'] != 1 else ''} per head of {d['NT']} threads"
    if d[f"OTHER_{k}"] > d["REG_BUDGET"]:
        return (f"registers: even with all of R in shared memory, the best split ({split}) needs about "
                f"{d[f'OTHER_{k}']} registers per thread besides R in the {which} kernel (at most "
                f"{d['REG_BUDGET']})")
    return (f"registers: the best split ({split}) would need about {d[f'A_{k}'] + d[f'OTHER_{k}']} "
            f"registers per thread in the {which} kernel to keep R in registers (at most "
            f"{d['REG_BUDGET']}), and the part of R beyond them does not fit shared memory beside the rest")


def _unfixed(spec: ModelSpec, problem: Problem, gpu: hwmodels.GPU, inputs: dict[str, int],
             fixed: dict[str, int]) -> list[str]:
    """What would work when the caller fixed some decisions: the model's own choice, if any."""
    _, res = spec.solve(inputs)
    if res is None:
        return _suggestions(problem, gpu)
    choice = ", ".join(f"{k} = {res.values[k]}" for k in fixed)
    return [f"other values of {', '.join(fixed)} (the model's own choice is {choice})"]


def _suggestions(problem: Problem, gpu: hwmodels.GPU) -> list[str]:
    out: list[str] = []
    # batch chunks (the fused backend runs chunks one after the other on its own)
    if problem.batch_size > 8:
        chunk = problem.batch_size
        while chunk > 8:
            chunk = max(8, (chunk // 2 + 7) // 8 * 8)
            if _feasible(problem.replace(batch_size=chunk), gpu):
                out.append(f"batch chunks of {chunk}")
                break
    # the same hidden size in more heads
    d = problem.head_dim
    for h in range(2, min(d, 256) + 1):
        if d % h or d // h < 8:
            continue
        if _feasible(problem.replace(num_heads=problem.num_heads * h, head_dim=d // h), gpu):
            out.append(f"{h}+ heads of {d // h} (the same hidden size, {problem.hidden_size})")
            break
    if problem.dtype == "float32" and _feasible(problem.replace(dtype="bfloat16"), gpu):
        out.append("bfloat16 or float16 (half the bytes of R)")
    if problem.pass_ == "both" and all(_feasible(problem.replace(pass_=p), gpu) for p in ("forward", "backward")):
        out.append("separate builds for the forward and the backward pass (as the fused backend does)")
    if problem.backend == "fused" and _feasible(problem.replace(backend="alternating"), gpu):
        out.insert(0, "the alternating backend (R stays in global memory; any head size)")
    return out


def on_chip_bytes(gpu: hwmodels.GPU) -> int:
    """Registers and shared memory of all SMs, in bytes."""
    a = gpu.architecture
    return gpu.sm_count * (a.registers_per_sm * 4 + a.shared_memory_per_sm)


def r_bytes(problem: Problem) -> int:
    """Bytes of one head's recurrent matrix R."""
    return get_cell(problem.cell).num_gates * problem.head_dim ** 2 * ELEMENT_BYTES[problem.dtype]


__all__ = ["diagnose", "on_chip_bytes", "r_bytes"]
