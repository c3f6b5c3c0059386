"""Block sizes for a tiled matrix multiplication, solved, counted and optimised with constrint.

C[M, N] = A[M, K] @ B[K, N] in half precision. Each thread block computes a BM x BN tile of C,
stepping through K in slices of BK; each thread computes a TM x TN sub-tile. The tiles must divide
the matrix sizes, the A and B slices must fit in 48 KiB of shared memory, and the block must have
a whole number of warps, at most 1024 threads.

Run:  python examples/matmul_tiling.py
"""
import constrint as ci

M, N, K = 4096, 3072, 1024
SMEM_BYTES = 48 * 1024
BYTES_PER_ELEMENT = 2

m = ci.Model()
pow2 = [2**i for i in range(3, 9)]  # 8 .. 256
bm = m.int_var("BM", values=pow2)
bn = m.int_var("BN", values=pow2)
bk = m.int_var("BK", 8, 128)
tm = m.int_var("TM", values=[1, 2, 4, 8])
tn = m.int_var("TN", values=[1, 2, 4, 8])
threads = m.int_var("THREADS", 32, 1024)

m += ci.divides(bm, M) & ci.divides(bn, N) & ci.divides(bk, K)
m += ci.divides(tm, bm) & ci.divides(tn, bn)
m += threads == ci.exact_div(bm, tm) * ci.exact_div(bn, tn)
m += ci.divides(32, threads)
m += (bm * bk + bk * bn) * BYTES_PER_ELEMENT <= SMEM_BYTES
m += ci.divides(8, bk)  # 16-byte vector loads of half-precision rows

print("model:")
print(m)
print("domains after propagation:")
for name, dom in m.propagate().items():
    print(f"  {name:8s} {dom!r}")

print("valid configurations:", m.count())

first = m.solve()
print("a first solution:", first.status.name, first.values)

# Fastest first: the most reuse per loaded byte (largest tile area), then the fewest threads.
m.maximize([bm * bn, -threads, bk])
best = m.solve()
print("best:", best.status.name, best.values, "objective", best.objective)
assert best.ok and m.check(best.values)
