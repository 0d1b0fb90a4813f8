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

"""Read the tensors NeMo's FastPitch computes but does not return, without copying its forward code."""

from typing import Optional

import torch

__all__ = ["FastPitchTaps"]


class FastPitchTaps:
    """Context manager that records, during one FastPitch ``training_step``/``validation_step``/``infer``:

    * ``mels`` ``[B, n_mels, T]`` and ``mel_lens`` ``[B]``: the preprocessor's output (the target log-mel);
    * ``len_regulated`` ``[B, T, D]`` and ``dec_lens`` ``[B]``: encoder output + pitch embedding upsampled by the
      durations, the decoder's input (``FastPitchModule.forward``/``infer`` keep it local);
    * ``coarse_mel`` ``[B, n_mels, T]``: FastPitch's own regression mel (the ``proj`` layer's output, transposed).

    ``model`` is a NeMo ``FastPitchModel`` (it needs ``preprocessor`` and ``fastpitch.decoder``/``fastpitch.proj``).
    Only the last call of each layer inside the ``with`` block is kept.
    """

    def __init__(self, model):
        self._model = model
        self._handles = []
        self.mels: Optional[torch.Tensor] = None
        self.mel_lens: Optional[torch.Tensor] = None
        self.len_regulated: Optional[torch.Tensor] = None
        self.dec_lens: Optional[torch.Tensor] = None
        self.coarse_mel: Optional[torch.Tensor] = None

    def _on_preprocessor(self, module, args, kwargs, output):
        self.mels, self.mel_lens = output

    def _on_decoder(self, module, args, kwargs):
        self.len_regulated = kwargs["input"] if "input" in kwargs else args[0]
        self.dec_lens = kwargs["seq_lens"] if "seq_lens" in kwargs else args[1]

    def _on_proj(self, module, args, output):
        self.coarse_mel = output.transpose(1, 2)

    def __enter__(self) -> "FastPitchTaps":
        fastpitch = self._model.fastpitch
        self._handles = [
            self._model.preprocessor.register_forward_hook(self._on_preprocessor, with_kwargs=True),
            fastpitch.decoder.register_forward_pre_hook(self._on_decoder, with_kwargs=True),
            fastpitch.proj.register_forward_hook(self._on_proj),
        ]
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        return False
