"""hwmodels.detect(): live values, matching, cross-checks and warnings.

Without a GPU, PyTorch and the CUDA driver are replaced by fakes; the one `cuda` test compares the
real device with the bundled H100 entry.
"""
from __future__ import annotations

import sys
import types
import warnings

import pytest

import hwmodels
from hwmodels import detection as detect_module

H100_PROPS = {"name": "NVIDIA H100 80GB HBM3", "major": 9, "minor": 0, "multi_processor_count": 132,
              "total_memory": 85_045_870_592, "L2_cache_size": 52_428_800, "max_threads_per_multi_processor": 2048,
              "warp_size": 32, "shared_memory_per_block": 49_152, "shared_memory_per_multiprocessor": 233_472,
              "shared_memory_per_block_optin": 232_448, "regs_per_multiprocessor": 65_536, "clock_rate": 1_980_000,
              "memory_clock_rate": 2_619_000, "memory_bus_width": 5120}
H100_DRIVER = {"CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK": 1024, "CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK": 65_536,
               "CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR": 32,
               "CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK": 1024, "CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH": 1,
               "CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN": 232_448,
               "CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR": 65_536}


def fake_torch(props: dict, available: bool = True) -> types.ModuleType:
    torch = types.ModuleType("torch")
    seen = []

    def get_device_properties(index):
        seen.append(index)
        return types.SimpleNamespace(**props)

    def device(spec):
        kind, _, index = str(spec).partition(":")
        return types.SimpleNamespace(type=kind, index=int(index) if index else None)

    torch.cuda = types.SimpleNamespace(is_available=lambda: available, current_device=lambda: 0,
                                       get_device_properties=get_device_properties)
    torch.device = device
    torch.seen = seen
    return torch


@pytest.fixture
def fake_device(monkeypatch):
    """Install a fake torch and a fake CUDA driver; returns a function (props, driver) -> torch."""
    def install(props=None, driver=None, available=True):
        torch = fake_torch(H100_PROPS if props is None else props, available)
        monkeypatch.setitem(sys.modules, "torch", torch)
        attributes = H100_DRIVER if driver is None else driver
        monkeypatch.setattr(detect_module, "driver_attribute_reader",
                            lambda index: (lambda name, code: attributes.get(name)))
        return torch
    return install


def test_matching_h100_gives_the_bundled_product_without_warnings(fake_device):
    fake_device()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gpu = hwmodels.detect()
    bundled = hwmodels.get("h100")
    assert gpu.name == "H100 SXM" and gpu.architecture == bundled.architecture
    assert (gpu.sm_count, gpu.l2_cache_bytes) == (132, 52_428_800)
    assert gpu.memory_bytes == 85_045_870_592  # the live value (within tolerance of the nominal 80 GB)
    assert gpu.peak("bf16") == bundled.peak("bf16")
    assert "live device" in gpu.source_of("sm_count")


def test_device_argument_selects_the_index(fake_device):
    torch = fake_device()
    hwmodels.detect("cuda:3")
    hwmodels.detect(2)
    hwmodels.detect()
    assert torch.seen == [3, 2, 0]
    with pytest.raises(hwmodels.DetectionError, match="CUDA device"):
        hwmodels.detect("cpu")


def test_differences_warn_naming_both_values(fake_device):
    props = {**H100_PROPS, "multi_processor_count": 114, "L2_cache_size": 50_000_000}
    del props["shared_memory_per_block_optin"]  # torch without it: the driver's value is used
    fake_device(props=props, driver={**H100_DRIVER, "CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN": 200_000})
    with pytest.warns(hwmodels.HardwareMismatchWarning) as record:
        gpu = hwmodels.detect()
    messages = [str(w.message) for w in record]
    assert any("sm_count" in m and "114" in m and "132" in m for m in messages), messages
    assert any("l2_cache_bytes" in m and "50000000" in m and "52428800" in m for m in messages), messages
    assert any("shared_memory_per_block_optin" in m and "200000" in m and "232448" in m for m in messages)
    assert gpu.sm_count == 114 and gpu.architecture.shared_memory_per_block_optin == 200_000
    assert "cuDeviceGetAttribute" in gpu.architecture.source_of("shared_memory_per_block_optin")


def test_unknown_product_with_known_architecture(fake_device):
    fake_device(props={**H100_PROPS, "name": "NVIDIA H100 NVL", "total_memory": 100_000_000_000})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gpu = hwmodels.detect()
    assert gpu.name == "NVIDIA H100 NVL" and gpu.architecture.name == "sm_90"
    assert gpu.peak("bf16") is None and gpu.boost_clock_mhz == 1980
    assert gpu.memory_bandwidth_gbps == pytest.approx(2 * 2_619_000e3 * 5120 / 8 / 1e9, rel=1e-3)
    assert hwmodels.constants(gpu)["NUM_SMS"] == 132


def test_unknown_compute_capability_raises(fake_device):
    fake_device(props={**H100_PROPS, "name": "NVIDIA GeForce RTX 5090", "major": 12, "minor": 0})
    with pytest.raises(hwmodels.UnknownArchitectureError, match=r"12\.0"):
        hwmodels.detect()


def test_without_torch_or_gpu(monkeypatch, fake_device):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(hwmodels.DetectionError, match="needs PyTorch"):
        hwmodels.detect()
    fake_device(available=False)
    with pytest.raises(hwmodels.DetectionError, match="no CUDA device"):
        hwmodels.detect()


def test_without_driver_binding_uses_table_values(monkeypatch):
    props = dict(H100_PROPS)
    del props["shared_memory_per_block_optin"], props["regs_per_multiprocessor"]
    monkeypatch.setitem(sys.modules, "torch", fake_torch(props))
    monkeypatch.setattr(detect_module, "driver_attribute_reader", lambda index: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gpu = hwmodels.detect()
    assert gpu.architecture.shared_memory_per_block_optin == 232_448


@pytest.mark.cuda
def test_detect_matches_bundled_h100():
    gpu = hwmodels.detect()
    if gpu.name != "H100 SXM":
        pytest.skip(f"needs an H100 SXM, found {gpu.name}")
    bundled = hwmodels.get("H100 SXM")
    assert gpu.sm_count == bundled.sm_count == 132
    assert gpu.architecture.shared_memory_per_block_optin == bundled.architecture.shared_memory_per_block_optin
    assert gpu.architecture.registers_per_sm == bundled.architecture.registers_per_sm
    assert gpu.l2_cache_bytes == bundled.l2_cache_bytes
    live, origin = detect_module.read_live()
    for key in ("shared_memory_per_block_optin", "registers_per_sm", "max_blocks_per_sm",
                "reserved_shared_memory_per_block", "registers_per_block"):
        assert key in live, f"{key} not read (torch nor driver)"
        assert live[key] == getattr(bundled.architecture, key), key
