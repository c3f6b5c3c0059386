"""The `constrint gpus` / `constrint gpu` plug-in commands, run as a subprocess."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

import hwmodels
from hwmodels import cli

ROOT = Path(__file__).parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "constrint.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def _plugin_registered() -> bool:
    from importlib.metadata import entry_points

    return any(ep.value == "hwmodels.cli:register" for ep in entry_points(group="constrint.commands"))


needs_entry_point = pytest.mark.skipif(not _plugin_registered(),
                                       reason="hwmodels entry point not installed (pip install -e .)")


@needs_entry_point
def test_gpus_lists_every_bundled_gpu():
    out = run("gpus")
    assert out.returncode == 0, out.stderr
    for gpu in hwmodels.list_gpus():
        assert gpu.name in out.stdout
    listed = json.loads(run("gpus", "--json").stdout)
    assert [g["name"] for g in listed] == [g.name for g in hwmodels.list_gpus()]


@needs_entry_point
def test_gpu_by_alias_as_json():
    out = run("gpu", "h100", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["gpu"]["name"] == "H100 SXM" and data["constants"]["NUM_SMS"] == 132
    assert data["gpu"]["architecture"]["tensor_cores"]["wgmma"]["bf16"] == ["m64n[8:256:8]k16"]
    text = run("gpu", "NVIDIA A100-SXM4-40GB")
    assert text.returncode == 0 and "A100 40GB" in text.stdout and "SMEM_PER_BLOCK_OPTIN = 166912" in text.stdout


@needs_entry_point
def test_gpu_from_a_model_file():
    out = run("gpu", "examples/my_gpu.toml", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["gpu"]["name"] == "H100 NVL"


@needs_entry_point
def test_unknown_gpu_exits_2_with_one_line():
    out = run("gpu", "no-such-gpu")
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown GPU 'no-such-gpu'" in lines[0] and "Traceback" not in out.stderr


@needs_entry_point
def test_bad_model_file_exits_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[gpu]\nname = "x"\narchitecture = "sm_90"\nsm_count = -1\n')
    out = run("gpu", str(bad))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert "gpu.sm_count" in out.stderr and "gpu.l2_cache_bytes: missing" in out.stderr


@needs_entry_point
def test_detect_without_a_gpu_exits_2():
    try:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is visible")
    except ImportError:
        pass
    out = run("gpu", "detect")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_register_adds_both_subcommands_in_process(capsys):
    parser = argparse.ArgumentParser(prog="constrint")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["gpu", "l40s"])
    assert args.func(args) == 0
    assert "L40S" in capsys.readouterr().out
    args = parser.parse_args(["gpus"])
    assert args.func(args) == 0 and "B200" in capsys.readouterr().out
    args = parser.parse_args(["gpu", "h10"])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("constrint gpu: error: unknown GPU 'h10'") and "H100" in err
