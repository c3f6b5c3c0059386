"""One model, many problems: inputs, definitions and decisions with ``Model.reduce``.

The model below chooses the launch of a row-wise reduction kernel: threads per block and rows per
block (the decisions) for a matrix whose size and GPU facts (the inputs) are known only at run
time. Named quantities (``BLOCKS``, ``SMEM``, ...) are definitions, ``X == expression;``.
``Model.reduce`` gives the inputs their values, inlines the definitions and returns a small model
over the decisions; its solutions are exactly those of the full model with the inputs fixed.

Run from the repository root: ``python examples/presolve_reduction.py``.
"""
import constrint as ci

MODEL = """
# inputs
var ROWS in 1..100000000;          # rows of the matrix
var COLS in 1..1000000;            # columns (reduced)
var SMS in 1..1000;                # streaming multiprocessors
var SMEM_MAX in 0..1000000;        # shared memory per block, bytes

# decisions
var THREADS in [64, 128, 256, 512, 1024];   # threads per block
var RPB in 1..64;                           # rows per block

# definitions
var PER_THREAD in 0..1000000;
PER_THREAD == (COLS - 1) // (THREADS // RPB) + 1;   # columns each thread sums
var BLOCKS in 0..100000000;
BLOCKS == (ROWS - 1) // RPB + 1;                    # blocks of the grid
var SMEM in 0..100000000;
SMEM == THREADS * 4;                                # partial sums in shared memory
var WAVES in 0..100000000;
WAVES == (BLOCKS - 1) // (2 * SMS) + 1;             # two blocks per SM

# constraints
THREADS % RPB == 0;                # whole thread groups per row
THREADS // RPB >= 32;              # at least a warp per row
SMEM <= SMEM_MAX;                  # the partial sums fit
PER_THREAD <= 64;                  # bounded work per thread

minimize WAVES, PER_THREAD, THREADS;
"""


def main() -> None:
    model = ci.loads(MODEL, filename="reduction.cint")
    print(f"full model: {len(model.variables)} variables, {len(model.constraints)} constraints")
    gpu = {"SMS": 132, "SMEM_MAX": 48 * 1024}
    for rows, cols in ((1 << 20, 64), (4096, 4096), (16, 1 << 19)):
        red = model.reduce({"ROWS": rows, "COLS": cols, **gpu}, decisions=["THREADS", "RPB"])
        print(f"\nROWS={rows} COLS={cols}:")
        if red.model is None:  # the inputs alone rule out every launch
            for st in red.violated:
                print(f"  violated: {st}")
            continue
        print(f"  reduced to {len(red.model.variables)} variables, {len(red.model.constraints)} constraints")
        print("  domains:", {v.name: red.model.domain(v) for v in red.model.variables})
        best = red.solve()
        if not best.ok:
            print("  no launch fits:", best.status.name)
            continue
        shown = {k: best[k] for k in ("THREADS", "RPB", "BLOCKS", "PER_THREAD", "WAVES")}
        print("  best:", shown, "objective", best.objective)
        # the same reduction with one decision fixed by hand (the other is still optimised)
        pinned = red.fix({"THREADS": 256}).solve()
        if pinned.ok:
            print("  with THREADS=256:", {k: pinned[k] for k in ("RPB", "WAVES", "PER_THREAD")})
    # an input outside its declared range is a violated declaration, too
    for st in model.reduce({"ROWS": 0, "COLS": 8, **gpu}).violated:
        print(f"\nviolated: {st}")


if __name__ == "__main__":
    main()
