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

"""The weights a finished training keeps: NeMo's EMA callback's moving average when ``exp_manager.ema.enable``.

``exp_manager`` adds :class:`nemo.collections.common.callbacks.EMA` to the trainer; it wraps the optimizer in an
``EMAOptimizer`` holding ``ema = decay * ema + (1 - decay) * weights`` after every step, validates on the average
and writes it beside every checkpoint (``-EMA.ckpt``). The gaps this module closes: NeMo 3.0's resume reads that file
with ``torch.load``'s default ``weights_only=True``, which refuses the checkpoint's OmegaConf hyper-parameters, so
every resumed EMA run stopped, and the averages it would restore are saved as Parameters that its next swap cannot
copy into (:class:`ResumableEMA`, put in place by :func:`use_resumable_ema`); and a ``model.save_to`` after ``fit``
writes the raw weights (:func:`final_weights` swaps the average in)."""

import contextlib
import os
from typing import Iterator

import torch
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from nemo.collections.common.callbacks import EMA

__all__ = ["ResumableEMA", "final_weights", "use_resumable_ema"]


class ResumableEMA(EMA):
    """NeMo's EMA callback whose resume reads the run's own ``-EMA.ckpt`` beside the checkpoint Lightning resumes
    (the same trust Lightning gives that checkpoint: ``weights_only=False``); otherwise NeMo's, unchanged."""

    def on_load_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        checkpointer, path = trainer.checkpoint_callback, trainer.ckpt_path
        if not path or checkpointer is None or "NeMo" not in type(checkpointer).__name__:
            return
        extension = checkpointer.FILE_EXTENSION
        if path.endswith(f"-EMA{extension}"):
            return  # resuming from the average itself: it becomes the weights and a new average starts from them
        ema_path = path.replace(extension, f"-EMA{extension}")
        if not os.path.isfile(ema_path):
            raise MisconfigurationException(f"{ema_path} is missing: the moving average of {path} cannot be resumed")
        state = torch.load(ema_path, map_location="cpu", weights_only=False)
        for optimizer_state in state["optimizer_states"]:
            # saved while swapped in, the averages are the modules' Parameters: plain tensors again, or NeMo's next
            # swap (an in-place copy into them) fails on leaves that require grad
            optimizer_state["ema"] = [tensor.detach() for tensor in optimizer_state["ema"]]
        checkpoint["optimizer_states"] = state["optimizer_states"]


def use_resumable_ema(trainer) -> None:
    """Puts :class:`ResumableEMA` in place of the EMA callback ``exp_manager`` gave ``trainer`` (if any), same
    settings."""
    for index, callback in enumerate(trainer.callbacks):
        if type(callback) is EMA:
            trainer.callbacks[index] = ResumableEMA(decay=callback.decay,
                                                    validate_original_weights=callback.validate_original_weights,
                                                    every_n_steps=callback.every_n_steps,
                                                    cpu_offload=callback.cpu_offload)


@contextlib.contextmanager
def final_weights(trainer) -> Iterator[bool]:
    """For the body of the ``with``, the model of ``trainer`` holds the EMA weights if the trainer has NeMo's EMA
    callback and it has taken a step (yields True), else its weights as trained (yields False)."""
    ema = next((callback for callback in trainer.callbacks if isinstance(callback, EMA)), None)
    if ema is None or not ema._ema_initialized(trainer):
        yield False
        return
    with ema.save_ema_model(trainer):
        for optimizer in trainer.optimizers:
            # a frozen weight (in the optimizer, never stepped) is its own average, but float32 rounding of the
            # update drifts the average by ~1e-6: keep it bit-identical (swapped in, the trained value is the EMA's)
            for weight, trained in zip(optimizer.all_parameters(), optimizer.ema_params):
                if not weight.requires_grad:
                    weight.data.copy_(trained)
        yield True
