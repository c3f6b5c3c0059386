"""Large models: counting without listing, time limits in a thread, long sums, old files.

    python examples/large_models.py
"""
import math
import threading

import constrint as ci

# 1. Counting does not list: 200 binaries with exactly 100 ones (about 9e58 solutions).
m = ci.Model()
bits = [m.int_var(f"b{i}", 0, 1) for i in range(200)]
m += ci.sum_(bits) == 100
n = m.count(time_limit=30)
assert n == math.comb(200, 100)
print(f"count: {n:.3e} solutions")

# 2. Time limits hold on every call, in any thread (no signals involved).
hard = ci.Model()
a, b, c = (hard.int_var(name, 1, 10**6) for name in "abc")
hard += ci.divides(a * b + c, 999983 * 7) | (a - b != c * 7 + 3)
hard.maximize((a * b + c) % 1000003)
result = {}


def work():
    result["solve"] = hard.solve(time_limit=0.5).status
    try:
        hard.count(time_limit=0.5)
    except ci.LimitReached as exc:
        result["count"] = str(exc)


t = threading.Thread(target=work)
t.start()
t.join()
print("solve in a thread, 0.5 s:", result["solve"].name, "| count:", result["count"])

# 3. Long sums are one flat node: 20,000 terms (or 10**5) build, print, read back and solve.
m = ci.Model()
xs = [m.int_var(f"x{i}", 0, 2) for i in range(10)]
m += ci.sum_(xs[i % 10] * (i % 3 + 1) for i in range(20_000)) <= 40_000
m += ci.sum_(xs) == 7
text = ci.dumps(m)
back = ci.loads(text)
r = back.solve()
assert r.ok and back.check(r.values)
print(f"a sum of 20,000 terms: {len(text):,} characters of .cint, solved: {r.values}")

# 4. Files in the original ConstrINT format, where '%' binds loosest: the flashrnn dialect.
old = "A == 96; B == 4; var C in 1..8;\nA % B * C == 0;   # A divisible by B * C\n"
try:
    ci.loads(old)
except ci.ConstraintSyntaxError as exc:
    print("default dialect refuses it:", str(exc).splitlines()[0][:80], "...")
legacy = ci.loads(old, dialect="flashrnn")
print("flashrnn dialect:", legacy.constraints[-1], "->", sorted(s["C"] for s in legacy.solutions()))
