"""The readable account of a :class:`~flashrnn_kernels.tiling.KernelConfig`."""
from __future__ import annotations

from .config import KernelConfig
from .diagnose import mb


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def explain(cfg: KernelConfig, binding: bool = True) -> str:
    p = cfg.problem
    lines = [f"{p.backend} kernel for {p.describe()} on the {cfg.gpu}"]
    defines = cfg.defines()
    if defines:
        lines.append("  defines     " + " ".join(f"{k}={v}" for k, v in defines.items()))
    if cfg.fixed:
        lines.append("  fixed       " + " ".join(f"{k}={v}" for k, v in cfg.fixed)
                     + "  (given by the caller; the solver chose the rest)")
    if p.backend == "fused":
        lines += _fused(cfg)
    else:
        lines += _alternating(cfg)
    uses = cfg.resources(binding=binding)
    rows = [("resource", "kernel", "used", "limit", "slack", "binds", "unit")]
    for u in uses:
        rows.append((u.label, u.kernel or "-", f"{u.used:,}", f"{u.limit:,}", f"{u.slack:,}",
                     "?" if u.binds is None else ("yes" if u.binds else "no"), u.unit))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {2, 3, 4}
    lines.append("  resources")
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("    " + "  ".join(cells).rstrip())
    if binding:
        lines.append("    (binds: lifting that budget alone lets the model find a better configuration)")
    lines.append("  objective   " + ", ".join(f"{n}={v}" for n, v in zip(cfg.objective_names, cfg.objective))
                 + "  (minimised in this order)")
    lines.append(f"  model       flashrnn_kernels/tiling/{cfg.model} (sha256 {cfg.model_sha256[:12]})")
    return "\n".join(lines)


def _fused(cfg: KernelConfig) -> list[str]:
    p = cfg.problem
    ns, u, bt, tiles, nt = cfg["NSLICE"], cfg["U"], cfg["BT"], cfg["TILES"], cfg["NT"]
    out = [f"  grid        {_plural(cfg['BLOCKS'], 'block')} of {nt} threads: {ns} per head "
           f"({u} units each) x {_plural(p.num_heads, 'head')} x {_plural(tiles, 'batch tile')} of {bt}"
           + (f", {cfg['WAVES']} waves" if cfg["WAVES"] > 1 else "")]
    if ns > 1 and cfg["DSM_F"]:
        out.append(f"              every step the {ns} blocks of a head, one thread-block cluster, write h into "
                   "each other's shared memory (sm_90a; through L2 where the GPU cannot hold every cluster)")
    elif ns > 1:
        out.append(f"              every step the {ns} blocks of a head exchange their part of the operand "
                   "through L2 (cooperative launch, one block per SM)")
    else:
        out.append("              one block per head and batch tile: a step synchronises only inside the block")
    for k, name, pre in (("F", "forward", "FWD"), ("B", "backward", "BWD")):
        if (k == "F" and not p.forward) or (k == "B" and not p.backward):
            continue
        wm, wk = cfg[f"{pre}_WM"], cfg[f"{pre}_WK"]
        out.append(f"  {name:<11} warps {wm} x {wk} (rows x split-K): {cfg[f'MTW_{k}']} row tiles x "
                   f"{cfg[f'KSW_{k}']} K steps per warp, {cfg[f'NCH_{k}']} accumulator chain(s); "
                   f"{cfg[f'A_{k}']} registers hold R, about {cfg[f'REGS_{k}']} in all; "
                   f"{cfg[f'SMEM_{k}']:,} B shared memory")
    out.append(f"  R           {mb(cfg['R_BYTES'])} per head, all of it in registers "
               f"({mb(cfg['R_REG_BYTES'])} of registers over its blocks, padding included); "
               f"{cfg['R_SMEM_BYTES']} B in shared memory")
    return out


def _alternating(cfg: KernelConfig) -> list[str]:
    return [f"  launch      blocks of {cfg['THREADS']} threads (the launchers' block size; no defines: one build "
            "serves every problem)",
            f"  grid        {_plural(cfg['BLOCKS'], 'block')} of {cfg['THREADS']} threads per step "
            f"({cfg['ELEMS']:,} elements), {cfg['BLOCKS_PER_SM']} resident per SM, "
            f"{_plural(cfg['WAVES'], 'wave')}, {_plural(cfg['IDLE_SMS'], 'idle SM')}"]


__all__ = ["explain"]
