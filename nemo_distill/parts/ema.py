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
and writes it beside every checkpoint (``-EMA.ckpt``, restored on resume). A ``model.save_to`` after ``fit`` would
still write the raw weights: :func:`final_weights` swaps the average in for the body of its ``with``."""

import contextlib
from typing import Iterator

from nemo.collections.common.callbacks import EMA


@contextlib.contextmanager
def final_weights(trainer) -> Iterator[bool]:
    """For the body of the ``with``, the model of ``trainer`` holds the EMA weights if the trainer has NeMo's EMA
    callback and it has taken a step (yields True), else its weights as trained (yields False)."""
    ema = next((callback for callback in trainer.callbacks if isinstance(callback, EMA)), None)
    if ema is None or not ema._ema_initialized(trainer):
        yield False
        return
    with ema.save_ema_model(trainer):
        yield True
