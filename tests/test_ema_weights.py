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
from nemo.utils.callbacks import NeMoModelCheckpoint
from nemo_distill.parts.ema import ResumableEMA, final_weights, use_resumable_ema


class _Pull(pl.LightningModule):
    """One weight pulled toward 1 by plain SGD; records the weight after every step."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(3))
        self.frozen = torch.nn.Parameter(torch.full((2,), 0.1), requires_grad=False)  # like a frozen front-end
        self.after_steps = []

    def training_step(self, batch, batch_idx):
        return ((self.weight - self.frozen.sum() * 5.0) ** 2).sum()  # pulled toward 1

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.after_steps.append(self.weight.detach().clone())

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.zeros(6, 1), batch_size=1)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(callbacks, max_steps=6, checkpoint_dir=None, resume=None):
    model = _Pull()
    if checkpoint_dir is not None:
        checkpoint = NeMoModelCheckpoint(dirpath=str(checkpoint_dir), save_last=True, save_top_k=0)
        # NeMo's exp_manager renames the last checkpoint of every NeMoModelCheckpoint in the process (it sets the
        # class attribute to "<filename>-last"): a test run after one that called exp_manager found no last.ckpt
        checkpoint.CHECKPOINT_NAME_LAST = "last"
        callbacks = [*callbacks, checkpoint]
    trainer = pl.Trainer(max_steps=max_steps, callbacks=callbacks, logger=False,
                         enable_checkpointing=checkpoint_dir is not None, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")
    trainer.fit(model, ckpt_path=resume)
    return model, trainer


def _average(weights, decay, start):
    for w in weights:
        start = decay * start + (1 - decay) * w
    return start


def test_the_ema_weights_are_the_moving_average_and_the_trained_ones_come_back():
    decay = 0.9  # not a power of two: float32 rounding of the update would drift a frozen weight's average
    model, trainer = _fit([EMA(decay=decay)])
    expected = _average(model.after_steps, decay, torch.zeros(3))  # it starts at the weights before the first step
    last = model.after_steps[-1]
    assert not torch.allclose(expected, last)  # the average lags the trained weights
    with final_weights(trainer) as averaged:
        assert averaged
        torch.testing.assert_close(model.weight.detach(), expected)
        assert torch.equal(model.frozen, torch.full((2,), 0.1))  # bit for bit, not its rounded average
    torch.testing.assert_close(model.weight.detach(), last)
    assert torch.equal(model.frozen, torch.full((2,), 0.1))


def test_without_the_callback_the_trained_weights_are_kept():
    model, trainer = _fit([])
    with final_weights(trainer) as averaged:
        assert not averaged
        torch.testing.assert_close(model.weight.detach(), model.after_steps[-1])


def test_a_resumed_training_carries_its_average_on(tmp_path):
    decay = 0.5
    first, _ = _fit([ResumableEMA(decay=decay)], max_steps=3, checkpoint_dir=tmp_path)
    assert (tmp_path / "last-EMA.ckpt").is_file()  # the average, beside the checkpoint
    second, trainer = _fit([ResumableEMA(decay=decay)], max_steps=6, checkpoint_dir=tmp_path,
                           resume=str(tmp_path / "last.ckpt"))
    assert len(second.after_steps) == 3  # steps 4-6 only
    expected = _average(second.after_steps, decay, _average(first.after_steps, decay, torch.zeros(3)))
    restarted = _average(second.after_steps, decay, first.after_steps[-1])  # an average begun again at resume
    assert not torch.allclose(expected, restarted)
    with final_weights(trainer):
        torch.testing.assert_close(second.weight.detach(), expected)


def test_exp_managers_callback_is_replaced_with_its_settings():
    trainer = pl.Trainer(callbacks=[EMA(decay=0.9, every_n_steps=2)], logger=False, enable_checkpointing=False,
                         accelerator="cpu")
    use_resumable_ema(trainer)
    replaced = [c for c in trainer.callbacks if isinstance(c, EMA)]
    assert len(replaced) == 1 and type(replaced[0]) is ResumableEMA
    assert (replaced[0].decay, replaced[0].every_n_steps) == (0.9, 2)
