"""Start-up: what ``import constrint`` and a first solve load.

Importing constrint loads none of numpy, networkx, sympy or lark (a third of a second of
start-up together); a model that only propagates never needs them, and numbers of tiling
models are factorised without sympy. The parser's tables are cached by lark across processes.
(How long it takes is measured by a benchmark, see docs/benchmarks.md, not here.)
"""
import random
import subprocess
import sys

import pytest
import sympy

from constrint.intmath import SMALL, divisors, factorint, iroot_ceil, iroot_floor


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True,
    ).stdout
    return set(out.split())


def test_import_loads_no_heavy_dependency():
    loaded = _modules_after("import constrint")
    assert not {"numpy", "networkx", "sympy", "lark"} & loaded


def test_propagating_and_solving_need_neither_numpy_nor_sympy():
    loaded = _modules_after(
        "import constrint as ci\n"
        "m = ci.Model(); x = m.int_var('x', 1, 4096); y = m.int_var('y', 1, 64)\n"
        "m += ci.divides(x, 3840); m += x * y <= 4096\n"
        "assert m.propagate()['x'].size == 36 and m.solve().ok"
    )
    assert not {"numpy", "networkx", "sympy"} & loaded


def test_small_number_theory_agrees_with_sympy():
    rng = random.Random(7)
    numbers = list(range(1, 2000)) + [rng.randrange(1, SMALL) for _ in range(200)] + [SMALL - 1]
    numbers += [2**31 - 1, 65537 * 65521, 2**32 - 5]
    for n in numbers:
        assert factorint(n) == sympy.factorint(n), n
        assert divisors(n) == sympy.divisors(n), n
        for p in (2, 3, 5):
            r = iroot_floor(n, p)
            assert r == sympy.integer_nthroot(n, p)[0], (n, p)
            assert iroot_ceil(n, p) == r + (r**p < n)
    for n in (SMALL, 2**64 + 13, 10**30 + 7):  # beyond: sympy
        assert factorint(n) == sympy.factorint(n)
        assert iroot_floor(n, 3) == sympy.integer_nthroot(n, 3)[0]


def test_a_cached_parse_is_read_back_without_the_parser(tmp_path):
    text = "var BM in [32, 64, 128]; var BK in 8..64; 4096 % BM == 0; BM * BK <= 4096; maximize BM * BK;"
    path = tmp_path / "tiles.cint"
    path.write_text(text)
    code = (
        "import constrint as ci\n"
        f"m = ci.load({str(path)!r}, cache_dir={str(tmp_path / 'cache')!r})\n"
        "assert m.count() == 139 and m.solve().values == {'BM': 64, 'BK': 64}\n"
    )
    assert "lark" in _modules_after(code)  # the first load parses and stores the parse
    assert len(list((tmp_path / "cache").glob("*.pickle"))) == 1
    assert "lark" not in _modules_after(code)  # the second reads it back


def test_command_plugins_are_found_as_importlib_metadata_finds_them():
    """The CLI reads the entry points itself (no importlib.metadata at start-up); it finds the
    same ones, in every group installed here."""
    from importlib.metadata import distributions
    from importlib.metadata import entry_points as metadata_entry_points

    from constrint.cli import entry_points

    groups = {ep.group for dist in distributions() for ep in dist.entry_points}
    assert "console_scripts" in groups
    for group in groups | {"constrint.commands", "no.such.group"}:
        ours = entry_points(group)
        theirs = [(ep.name, ep.value) for ep in metadata_entry_points(group=group)]
        assert sorted(ours) == sorted(theirs), group


def test_entry_point_files_are_read_like_importlib_metadata(tmp_path, monkeypatch):
    from constrint.cli import _load_entry_point, entry_points

    first = tmp_path / "a"
    second = tmp_path / "b"
    for root, text in (
        (first / "My.Plugin-1.0.dist-info", "# comment\n[constrint.commands]\n  tool = json:dumps  \n"
                                             "extra = json.decoder:JSONDecoder.decode [cli]\n[other]\nx = os\n"),
        (second / "my_plugin-2.0.dist-info", "[constrint.commands]\nshadowed = os:getcwd\n"),  # same name: skipped
        (second / "legacy.egg-info", "[constrint.commands]\nold = os.path:join\n"),
        (second / "no_points-1.0.dist-info", None),
    ):
        root.mkdir(parents=True)
        if text is not None:
            (root / "entry_points.txt").write_text(text)
    monkeypatch.setattr(sys, "path", [str(first), str(tmp_path / "missing"), str(second)])
    found = entry_points("constrint.commands")
    assert found == [("tool", "json:dumps"), ("extra", "json.decoder:JSONDecoder.decode [cli]"),
                     ("old", "os.path:join")]
    import json
    import os.path

    assert _load_entry_point("json:dumps") is json.dumps
    assert _load_entry_point("json.decoder:JSONDecoder.decode [cli]") is json.decoder.JSONDecoder.decode
    assert _load_entry_point("os.path") is os.path
    for bad in ("json:nope", "no_such_module_xyz:f", "not an entry point"):
        with pytest.raises(ImportError):
            _load_entry_point(bad)


def test_the_command_line_does_not_import_importlib_metadata():
    loaded = _modules_after("import sys\nfrom constrint.cli import build_parser\nbuild_parser()")
    assert "importlib.metadata" not in loaded
