# Copyright (c) 2026, The nemo_distill authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Peak memory of a block of torch code on any device, CPU included.

``torch.cuda.max_memory_allocated`` exists only for CUDA, and a process's resident set on a CPU is dominated by
the interpreter and the allocator's caches. :class:`PeakTensorMemory` counts what the block itself allocates: every
tensor storage an operator creates inside it is added when created and subtracted when freed, and the peak of that
running total is kept (views and in-place results share a storage and are counted once).
"""

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

__all__ = ["PeakTensorMemory", "module_bytes"]


def module_bytes(*modules: torch.nn.Module) -> int:
    """Bytes of the parameters and buffers of ``modules`` (each tensor once)."""
    seen, total = set(), 0
    for module in modules:
        for tensor in (*module.parameters(), *module.buffers()):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                total += tensor.numel() * tensor.element_size()
    return total


class PeakTensorMemory(TorchDispatchMode):
    """``with PeakTensorMemory() as memory: ...`` then ``memory.peak_bytes``: the most bytes of tensors created
    inside the block that were alive at the same time (inputs and weights that existed before are not counted)."""

    def __init__(self):
        super().__init__()
        self.current_bytes = 0
        self.peak_bytes = 0
        self._live = WeakIdKeyDictionary()

    def _release(self, nbytes: int) -> None:
        self.current_bytes -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor):
                storage = tensor.untyped_storage()
                if storage not in self._live:
                    nbytes = storage.nbytes()
                    self._live[storage] = nbytes
                    self.current_bytes += nbytes
                    weakref.finalize(storage, self._release, nbytes)
        self.peak_bytes = max(self.peak_bytes, self.current_bytes)
        return out
