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

from typing import Iterable, Optional, Tuple

import torch

__all__ = ["FastPitchTaps", "teacher_forced"]


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


@torch.no_grad()
def teacher_forced(model, batch, sup_data_types: Iterable) -> Tuple[torch.Tensor, ...]:
    """One batch of a FastPitch-style ``TTSDataset`` through ``model``'s front-end with the aligner's (ground-truth)
    durations and the recordings' pitch, so the encoding lines up frame for frame with the recorded mel:
    ``(cond [B, D, T], coarse_mel [B, n_mels, T], target_mel [B, n_mels, T], lengths [B], mel_lens [B],
    dec_lens [B])``. ``lengths`` is the common valid length; ``mel_lens`` (the recording's frames) and ``dec_lens``
    (the durations' sum) are returned for a caller that checks the alignment."""
    from nemo.collections.tts.parts.utils.helpers import process_batch

    batch = process_batch(batch, set(sup_data_types))
    batch = {k: v.to(model.device) if torch.is_tensor(v) else v for k, v in batch.items()}
    with FastPitchTaps(model) as taps:
        mels, mel_lens = model.preprocessor(input_signal=batch["audio"], length=batch["audio_lens"])
        model(text=batch["text"], durs=None, pitch=batch.get("pitch"), speaker=batch.get("speaker_id"), pace=1.0,
              spec=mels, attn_prior=batch.get("align_prior_matrix"), mel_lens=mel_lens, input_lens=batch["text_lens"])
    frames = min(mels.shape[-1], taps.coarse_mel.shape[-1])
    lengths = torch.minimum(mel_lens, taps.dec_lens).clamp(max=frames)
    return (taps.len_regulated[:, :frames].transpose(1, 2), taps.coarse_mel[..., :frames], mels[..., :frames],
            lengths, mel_lens, taps.dec_lens)
