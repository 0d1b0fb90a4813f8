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

"""Torch's thread count, kept where the caller set it.

NeMo's aligner binarises its attention with a parallel numba kernel (``b_mas``, ``prange``), run on the first
FastPitch training or ground-truth-duration step. numba's default threading layer is OpenMP, the same ``libgomp``
torch's CPU build runs on, and it starts by setting OpenMP's thread count to every core: after that step
``torch.get_num_threads()`` is the machine's core count whatever ``torch.set_num_threads`` or ``OMP_NUM_THREADS``
said (measured: 1 -> 2 on a 2-core machine, in every training script and benchmark of this project, and in the
test processes, where a one-thread toy training beside another worker then ran 3x slower). numba's ``workqueue``
layer has threads of its own and leaves OpenMP alone.
"""

import os
import sys

__all__ = ["keep_torch_threads_under_numba"]


def keep_torch_threads_under_numba() -> None:
    """Make numba's parallel kernels use its ``workqueue`` threading layer, unless the user chose a layer
    (``NUMBA_THREADING_LAYER``). Works before numba is imported (its environment variable) and after (its config),
    as long as no parallel kernel has run yet."""
    if "NUMBA_THREADING_LAYER" in os.environ:
        return
    os.environ["NUMBA_THREADING_LAYER"] = "workqueue"  # read when numba is imported, by this process and its children
    layer = getattr(sys.modules.get("numba.core.config"), "THREADING_LAYER", None)
    if layer == "default":  # numba imported already (NeMo's TTS helpers import it): the layer is chosen at launch
        sys.modules["numba.core.config"].THREADING_LAYER = "workqueue"
