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

"""parts/ema.py: a training with NeMo's EMA callback keeps the moving average of its weights, not the last step's."""

import lightning.pytorch as pl
import torch

from nemo.collections.common.callbacks import EMA
from nemo_distill.parts.ema import final_weights


class _Pull(pl.LightningModule):
    """One weight pulled toward 1 by plain SGD; records the weight after every step."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(3))
        self.after_steps = []

    def training_step(self, batch, batch_idx):
        return ((self.weight - 1.0) ** 2).sum()

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.after_steps.append(self.weight.detach().clone())

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.zeros(6, 1), batch_size=1)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(callbacks):
    model = _Pull()
    trainer = pl.Trainer(max_steps=6, callbacks=callbacks, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(model)
    return model, trainer


def test_the_ema_weights_are_the_moving_average_and_the_trained_ones_come_back():
    decay = 0.5
    model, trainer = _fit([EMA(decay=decay)])
    expected = torch.zeros(3)  # the average starts at the weights before the first step
    for weights in model.after_steps:
        expected = decay * expected + (1 - decay) * weights
    last = model.after_steps[-1]
    assert not torch.allclose(expected, last)  # the average lags the trained weights
    with final_weights(trainer) as averaged:
        assert averaged
        torch.testing.assert_close(model.weight.detach(), expected)
    torch.testing.assert_close(model.weight.detach(), last)


def test_without_the_callback_the_trained_weights_are_kept():
    model, trainer = _fit([])
    with final_weights(trainer) as averaged:
        assert not averaged
        torch.testing.assert_close(model.weight.detach(), model.after_steps[-1])
