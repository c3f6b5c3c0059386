"""Replaying a whole time loop as one CUDA graph: :class:`GraphCache`.

A loop that launches two kernels per time step from Python (the alternating backend) pays the
interpreter's time on every step. Captured once as a CUDA graph and replayed, the same launches
cost one host call for the whole loop. A graph is bound to the memory it was captured with, so a
captured call works on static buffers: the call's inputs are copied in, the graph is replayed, and
the outputs are copied out into fresh tensors (the caller may keep them while the next call runs).

Policy:

* A call is captured the second time its signature is seen (function key, and shape, strides,
  dtype and device of every input); a shape met once runs eagerly and costs no capture.
* Captured graphs and their buffers are kept within a memory budget per device
  (``FLASHRNN_GRAPH_MEMORY``, MiB; by default a sixteenth of the GPU's memory and at least
  2 GiB, :func:`default_budget`), least recently used first out; a call whose
  capture alone would exceed it runs eagerly. An evicted signature must be seen twice as many
  times as before to be captured again (2, 4, 8, ... sightings), so calls that take turns in a
  budget too small for both (a large head's forward and backward) run mostly eagerly instead of
  capturing on every call.
* A call made while the current stream is being captured (a user's ``torch.cuda.graph``,
  ``torch.compile(mode="reduce-overhead")``) runs eagerly: the enclosing capture records it.
* Calls on CPU tensors or with non-dense inputs run eagerly, and every call does with
  ``FLASHRNN_GRAPHS=0`` (the replay is on by default).
* Uses of one graph from several streams are ordered by an event, so they never share its
  buffers at the same time.

The capture step is a parameter (``capture=``) so that the policy can be exercised without a GPU.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from . import env

#: ``capture(fn, statics) -> (replay, outputs, nbytes)``: capture ``fn(*statics)``; ``replay()``
#: recomputes ``outputs`` from the current contents of ``statics``; ``nbytes`` is the device memory
#: the capture holds (its buffers and outputs).
Capture = Callable[[Callable[..., Sequence[Tensor]], tuple[Tensor, ...]], tuple[Callable[[], None], list[Tensor], int]]


#: The default graph budget of one GPU is its memory divided by this, and at least
#: :data:`MIN_DEFAULT_BUDGET` bytes. A sixteenth of an 80 GB H100 (about 5 GB) holds both loops of
#: a 1 x 2048 LSTM at B = 16, T = 1024 (about 2.1 GB by the sizes of their buffers), which 2 GiB
#: cannot: they would take turns and run mostly step by step (docs/design/alternating-fused-step.md).
DEFAULT_BUDGET_SHARE = 16
MIN_DEFAULT_BUDGET = 2 * 2**30


def default_budget(device: torch.device) -> int:
    """Bytes the captured graphs of ``device`` may hold when ``FLASHRNN_GRAPH_MEMORY`` is unset:
    a :data:`DEFAULT_BUDGET_SHARE`-th of the GPU's memory, at least :data:`MIN_DEFAULT_BUDGET`
    (that alone off a GPU).

    >>> default_budget(torch.device("cpu")) == MIN_DEFAULT_BUDGET
    True
    """
    total = torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else 0
    return max(MIN_DEFAULT_BUDGET, total // DEFAULT_BUDGET_SHARE)


def capture_cuda_graph(fn: Callable[..., Sequence[Tensor]], statics: tuple[Tensor, ...]):
    """The default :data:`Capture`: one warm-up run on a side stream, then ``torch.cuda.graph``."""
    device = statics[0].device
    side = torch.cuda.Stream(device)  # on the inputs' device (torch's default capture stream is
    side.wait_stream(torch.cuda.current_stream(device))  # made once, on whichever device came first)
    with torch.cuda.stream(side):  # lazy initialisations (cuBLAS workspaces) happen outside the graph
        fn(*statics)
    torch.cuda.current_stream(device).wait_stream(side)
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()  # what is reserved from here on is the graph's private pool
    before = torch.cuda.memory_reserved(device)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.device(device), torch.cuda.graph(graph, stream=side, capture_error_mode="thread_local"):
        outputs = list(fn(*statics))
    nbytes = max(torch.cuda.memory_reserved(device) - before, 0)
    return graph.replay, outputs, nbytes


@dataclass
class _Entry:
    statics: tuple[Tensor, ...]
    replay: Callable[[], None]
    outputs: list[Tensor]
    nbytes: int
    done: Any = None  # event recorded after the last use's output copies
    uses: int = 0


@dataclass
class CacheInfo:
    """What a :class:`GraphCache` holds (:meth:`GraphCache.info`)."""

    graphs: int
    nbytes: int
    captures: int
    replays: int
    eager: int
    evictions: int
    keys: list[Any] = field(default_factory=list)


def _dense(t: Tensor) -> bool:
    return t.is_contiguous() or t.is_contiguous(memory_format=torch.channels_last)


def _signature(key: Any, inputs: Sequence[Tensor]) -> tuple:
    return (key, *((tuple(t.shape), t.stride(), t.dtype, t.device) for t in inputs))


class GraphCache:
    """Captured CUDA graphs of functions of tensors, replayed for calls with the same signature.

    >>> cache = GraphCache()
    >>> x = torch.arange(4.0)
    >>> cache.run("double", lambda t: [t * 2], (x,))      # CPU tensors: always eager
    [tensor([0., 2., 4., 6.])]
    >>> cache.info().graphs
    0
    """

    def __init__(self, capture: Capture = capture_cuda_graph, *, device_type: str = "cuda",
                 budget_bytes: Callable[[], int | None] | None = None, enabled: Callable[[], bool] | None = None):
        self._capture = capture
        self._device_type = device_type
        self._budget = budget_bytes or env.graph_memory_bytes  # None: default_budget(device)
        self._enabled = enabled or env.graphs_enabled
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._seen: dict[tuple, int] = {}  # sightings since the signature was last captured
        self._wanted: dict[tuple, int] = {}  # sightings that capture it (default 2; doubled per eviction)
        self._lock = threading.RLock()
        self._counts = {"captures": 0, "replays": 0, "eager": 0, "evictions": 0}

    # ------------------------------------------------------------------ queries
    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(graphs=len(self._entries), nbytes=sum(e.nbytes for e in self._entries.values()),
                             keys=[k[0] for k in self._entries], **self._counts)

    def clear(self) -> None:
        """Drop every graph, forget every signature and zero the counts of :meth:`info` (frees
        the graphs' memory)."""
        with self._lock:
            self._entries.clear()
            self._seen.clear()
            self._wanted.clear()
            self._counts = dict.fromkeys(self._counts, 0)

    # ------------------------------------------------------------------ the call
    def _eager(self, fn, inputs) -> list[Tensor]:
        with self._lock:
            self._counts["eager"] += 1
        return list(fn(*inputs))

    def run(self, key: Any, fn: Callable[..., Sequence[Tensor]], inputs: Sequence[Tensor]) -> list[Tensor]:
        """``fn(*inputs)`` as a list of tensors, from a replayed graph where the policy allows.

        ``fn`` must be a pure function of ``inputs``' contents and of ``key`` (same key: same
        computation): only the inputs are copied into a captured call.
        """
        inputs = tuple(inputs)
        if (not inputs or any(t.device.type != self._device_type for t in inputs) or not self._enabled()
                or (self._device_type == "cuda" and torch.cuda.is_current_stream_capturing())
                or not all(_dense(t) for t in inputs)):
            return self._eager(fn, inputs)
        sig = _signature(key, inputs)
        device = inputs[0].device
        with self._lock:
            entry = self._entries.get(sig)
            if entry is None:
                seen = self._seen[sig] = self._seen.get(sig, 0) + 1
                if seen >= self._wanted.get(sig, 2):
                    entry = self._capture_entry(sig, fn, inputs, device)
            if entry is not None:
                self._entries.move_to_end(sig)
                return self._replay(entry, inputs, device)
        return self._eager(fn, inputs)

    def _held(self, device) -> int:
        return sum(e.nbytes for k, e in self._entries.items() if k[1][3] == device)

    def _capture_entry(self, sig, fn, inputs, device) -> _Entry | None:
        budget = self._budget()
        if budget is None:
            budget = default_budget(device)
        need = 2 * sum(t.numel() * t.element_size() for t in inputs)  # statics, and at least as much out
        if need > budget:
            return None
        self._evict(device, budget - need)
        statics = tuple(t.clone() for t in inputs)  # dense: clone keeps the strides
        replay, outputs, nbytes = self._capture(fn, statics)
        nbytes += sum(t.numel() * t.element_size() for t in statics)
        self._counts["captures"] += 1
        entry = _Entry(statics, replay, outputs, nbytes)
        self._entries[sig] = entry
        self._evict(device, budget, keep=sig)
        return entry

    def _evict(self, device, budget: int, keep: tuple | None = None) -> None:
        """Drop the least recently used graphs of ``device`` until it holds at most ``budget``
        bytes; a dropped signature must be seen twice as many times as before to be captured
        again."""
        held = self._held(device)
        for k in list(self._entries):
            if held <= budget:
                return
            if k == keep or k[1][3] != device:
                continue
            held -= self._entries.pop(k).nbytes
            self._seen[k] = 0
            self._wanted[k] = 2 * self._wanted.get(k, 2)
            self._counts["evictions"] += 1

    def _replay(self, entry: _Entry, inputs: tuple[Tensor, ...], device) -> list[Tensor]:
        stream = torch.cuda.current_stream(device) if device.type == "cuda" else None
        if entry.done is not None and stream is not None:
            stream.wait_event(entry.done)  # a use from another stream has finished with the buffers
        for s, t in zip(entry.statics, inputs):
            s.copy_(t)
        entry.replay()
        out = [o.clone() for o in entry.outputs]
        if stream is not None:
            if entry.done is None:
                entry.done = torch.cuda.Event()
            entry.done.record(stream)
        entry.uses += 1
        self._counts["replays"] += 1
        return out
