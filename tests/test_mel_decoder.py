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

"""DiffusionMelDecoder as a unit, without FastPitch: its loss, its x0 prediction, its sampler, its buffer."""

import pytest
import torch


@pytest.fixture
def decoder():
    from nemo_distill.diffusion import CosineSchedule
    from nemo_distill.diffusion.settings import DiffusionSettings
    from nemo_distill.modules.mel_decoder import DiffusionMelDecoder
    from nemo_distill.modules.mel_denoiser import MelDenoiser

    torch.manual_seed(0)
    denoiser = MelDenoiser(n_mels=8, cond_channels=4, channels=8, num_blocks=2, dilation_cycle=2)
    torch.nn.init.normal_(denoiser.output[-1].weight, std=0.1)
    settings = DiffusionSettings(CosineSchedule(), "v", "snr_trunc", 5.0, "ddim", 4, 1.0, 1.0)
    return DiffusionMelDecoder(denoiser, settings, max_frames=6, mel_floor=-11.5)


def _batch(frames=10):
    generator = torch.Generator().manual_seed(1)
    cond, coarse = torch.randn(2, 4, frames, generator=generator), torch.randn(2, 8, frames, generator=generator)
    mel = coarse + 0.3 * torch.randn(2, 8, frames, generator=generator)
    return cond, coarse, mel, torch.tensor([frames, frames - 4])


def test_loss_is_finite_trains_the_denoiser_and_sets_the_scale(decoder):
    cond, coarse, mel, lengths = _batch()
    decoder.train()
    loss = decoder.loss(cond, coarse, mel, lengths, generator=torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert decoder.denoiser.output[-1].weight.grad.abs().sum() > 0
    assert 0.1 < float(decoder.residual_scale) < 0.6  # the first batch's residual RMS (0.3, a 6-frame window)


def test_decode_is_seeded_masked_and_padding_invariant(decoder):
    from nemo_distill.diffusion import SamplingOptions

    cond, coarse, _, lengths = _batch()
    decoder.eval()
    mel = decoder.decode(cond, coarse, lengths, SamplingOptions(seed=3))
    assert mel.shape == coarse.shape and torch.equal(mel, decoder.decode(cond, coarse, lengths, SamplingOptions(seed=3)))
    assert torch.all(mel[1, :, 6:] == -11.5)  # past the second utterance's length: the floor
    noise = torch.randn(2, 8, 12, generator=torch.Generator().manual_seed(4))
    batched = decoder.decode(cond, coarse, lengths, SamplingOptions(noise=noise, steps=2))
    single = decoder.decode(cond[1:, :, :6], coarse[1:, :, :6], lengths[1:], SamplingOptions(noise=noise[1:], steps=2))
    assert torch.allclose(batched[1, :, :6], single[0], atol=1e-5)


def test_x0_prediction_is_zero_past_the_mask_and_guidance_changes_it(decoder):
    from nemo_distill.diffusion import frame_mask

    cond, coarse, _, lengths = _batch()
    mask = frame_mask(lengths, coarse.shape[-1])
    z_t, log_snr = torch.randn(coarse.shape, generator=torch.Generator().manual_seed(2)), torch.tensor([-1.0, 2.0])
    with torch.no_grad():
        x0 = decoder.x0_prediction(z_t, log_snr, cond, coarse, mask)
        guided = decoder.x0_prediction(z_t, log_snr, cond, coarse, mask, guidance_scale=2.0)
    assert torch.all(x0[1, :, 6:] == 0) and not torch.allclose(x0, guided)


def test_a_trained_scale_is_kept_by_the_running_average(decoder):
    state = decoder.state_dict()
    state["residual_scale"] = torch.tensor(0.5)
    decoder.load_state_dict(state)  # e.g. a restored voice: its scale is not replaced by the next batch's RMS
    cond, coarse, mel, lengths = _batch()
    decoder.train().update_residual_scale(coarse + 3.0, coarse, torch.ones(2, 1, 10, dtype=torch.bool))
    assert float(decoder.residual_scale) == pytest.approx(0.99 * 0.5 + 0.01 * 3.0)
