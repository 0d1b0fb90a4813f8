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

"""Torch's thread count survives numba's parallel kernels (nemo_distill.utils.threads): NeMo's aligner runs one on
the first FastPitch training step, and numba's OpenMP layer used to set torch to every core from there on."""

import os
import subprocess
import sys

import pytest

KERNEL = """
import torch
torch.set_num_threads(1)
(torch.rand(300, 300) @ torch.rand(300, 300)).sum()  # torch's OpenMP threads started, as in any training
{before}
import numba
{after}
import numpy as np

@numba.njit(parallel=True)
def total(x):
    s = 0.0
    for i in numba.prange(x.shape[0]):
        s += x[i]
    return s

total(np.ones(1000))
print(torch.get_num_threads(), numba.threading_layer())
"""


def _run(before="", after=""):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}  # this process set it: not for these
    result = subprocess.run([sys.executable, "-c", KERNEL.format(before=before, after=after)], capture_output=True,
                            text=True, env=dict(env, OMP_NUM_THREADS="1"), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    threads, layer = result.stdout.split()
    return int(threads), layer


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: the thread count cannot grow")
def test_numbas_parallel_kernel_leaves_torch_at_the_threads_it_was_given():
    # without the package, numba's OpenMP layer takes torch to every core (what the package prevents)
    assert _run() == (os.cpu_count(), "omp")
    # with it, imported before numba or after (NeMo's TTS helpers import numba first)
    assert _run(before="import nemo_distill") == (1, "workqueue")
    assert _run(after="import nemo_distill") == (1, "workqueue")
