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

"""nemo_distill: diffusion text-to-speech for NVIDIA NeMo, and the distillation that makes it fast.

Importing this package registers it with NeMo's config-target allow-list (see :mod:`nemo_distill.registration`).
The models live in :mod:`nemo_distill.models` (imports NeMo); the math in :mod:`nemo_distill.diffusion` (does not).
"""

from nemo_distill.registration import register_with_nemo
from nemo_distill.utils.threads import keep_torch_threads_under_numba

__version__ = "0.1.0"

register_with_nemo()
keep_torch_threads_under_numba()
