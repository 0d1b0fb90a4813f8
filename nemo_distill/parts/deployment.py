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

"""What deploying a voice needs, as one frozen description the exporters consume without touching the voice.

:meth:`DiffusionSpectrogramGenerator.deployment <nemo_distill.models.DiffusionSpectrogramGenerator.deployment>`
checks the step count, the layer budget and the tokenizer once and returns a :class:`Deployment`: the graph writers,
the mel and hop settings, the tokenizer description, the resolved sampling settings and the lineage.
:mod:`nemo_distill.export` writes a Triton repository from it alone (it reads no attribute of the model).
"""

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

__all__ = ["Deployment"]

GraphWriter = Callable[[str], None]  # writes one ONNX graph to a path


@dataclass(frozen=True)
class Deployment:
    """A voice as a deployment sees it (every value checked when it was made).

    ``graphs``: ``frontend`` (tokens -> cond, coarse_mel, mel_lens), ``sampler`` (the unrolled ``steps``-step
    sampler at ``layer_budget`` blocks) and, when asked for, ``step`` (one denoiser call): each a writer of its ONNX
    graph. ``preprocessor``: the voice's preprocessor config (the mel settings a vocoder must share).
    ``calibration_mels(texts)``: the voice's log-mels ``[n_mels, T]`` (numpy) of ``texts`` at the exported steps and
    budget, seed 0 (int8 calibration of a vocoder)."""

    graphs: Mapping[str, GraphWriter]
    steps: int
    sampler: str
    layer_budget: Optional[int]  # blocks per denoiser call (None: a denoiser without layer budgets)
    n_mels: int
    cond_channels: int
    sample_rate: int
    hop_length: int
    max_frames_per_token: int
    tokenizer: Mapping[str, Any]
    has_text_normalizer: bool
    preprocessor: Mapping[str, Any]
    lineage: Mapping[str, Any] = field(default_factory=dict)
    calibration_mels: Callable[[Sequence[str]], List[Any]] = field(default=None, repr=False, compare=False)

    @property
    def model_config(self) -> Dict[str, Any]:
        """The part of the voice's config the mel-settings check reads (``{"preprocessor": ...}``)."""
        return {"preprocessor": dict(self.preprocessor)}
