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

"""ClassifierGuidedGenerator: frozen backbone, DSM training, guidance toward a known class, .nemo, bad input."""

import copy

import pytest
import torch
from torch import nn

TINY_SCORE = ["model.score_net.width=8", "model.score_net.embedding_dim=16", "model.score_net.num_blocks=1",
              "model.train_ds.batch_size=10", "model.validation_ds.batch_size=10"]


@pytest.fixture(scope="module")
def make_cfg(digit_corpus, classifier_nemo):
    from nemo_distill.utils.config import compose_config

    def make(*overrides):
        return compose_config("classifier_guided", [
            f"train_dataset={digit_corpus}/train_manifest.json",
            f"validation_datasets={digit_corpus}/val_manifest.json", f"backbone_path={classifier_nemo}",
            *TINY_SCORE, *overrides])

    return make


def _trainer(tmp_path, steps):
    import lightning.pytorch as pl

    return pl.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                      limit_val_batches=1, default_root_dir=str(tmp_path))


def test_backbone_stays_frozen_while_the_score_network_trains(make_cfg, classifier_nemo, tmp_path):
    from nemo.core.classes import ModelPT

    from nemo_distill.models import ClassifierGuidedGenerator

    torch.manual_seed(0)
    trainer = _trainer(tmp_path, 3)
    model = ClassifierGuidedGenerator(make_cfg().model, trainer=trainer)
    source = ModelPT.restore_from(classifier_nemo, map_location="cpu")
    for key, value in source.classifier.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[key], value), key
    assert not any(p.requires_grad for p in model.backbone.parameters())
    backbone_before = copy.deepcopy(model.backbone.state_dict())
    score_before = copy.deepcopy(model.score_net.state_dict())
    trainer.fit(model)
    assert "train_dsm_loss" in trainer.callback_metrics and "val_dsm_loss" in trainer.callback_metrics
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, backbone_before[key]), key
    assert any(not torch.equal(v, score_before[k]) for k, v in model.score_net.state_dict().items())
    model.train()
    assert model.score_net.training and not model.backbone.training  # the frozen backbone stays in eval mode
    params = sum(p.numel() for p in model.score_net.parameters())
    assert params < sum(p.numel() for p in model.backbone.parameters())  # the trained part is the light one


def test_dsm_loss_decreases_on_a_toy_batch(make_cfg):
    from nemo_distill.models import ClassifierGuidedGenerator

    torch.manual_seed(0)
    model = ClassifierGuidedGenerator(make_cfg().model).train()
    audio, lens, _, _ = next(iter(model._train_dl))
    x0 = model.mel(audio, lens)
    optimizer = torch.optim.Adam(model.score_net.parameters(), lr=3e-3)
    losses = []
    for step in range(40):
        loss = model.denoising_loss(x0, torch.Generator().manual_seed(step % 4))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert sum(losses[-4:]) < 0.8 * sum(losses[:4])


class _MeanClassifier(nn.Module):
    """Two classes: logits ``k * [mean(z), -mean(z)]`` -- class 0 is 'loud', class 1 'quiet'."""

    def __init__(self, n_mels, channels):
        super().__init__()
        self.n_mels, self.num_classes, self.channels = n_mels, 2, channels

    def forward_with_taps(self, z_t, log_snr):
        mean = z_t.mean(dim=(1, 2))
        taps = [torch.zeros(z_t.shape[0], c, (z_t.shape[1] + 2**i - 1) // 2**i, (z_t.shape[2] + 2**i - 1) // 2**i)
                for i, c in enumerate(self.channels)]
        return 50.0 * torch.stack([mean, -mean], dim=-1), taps

    def forward(self, z_t, log_snr):
        return self.forward_with_taps(z_t, log_snr)[0]


def _generator_on_the_mean_classifier(make_cfg):
    """A generator whose backbone is :class:`_MeanClassifier` (classes "loud", "quiet"), guided at every step."""
    from omegaconf import open_dict

    from nemo_distill.models import ClassifierGuidedGenerator

    model = ClassifierGuidedGenerator(make_cfg("model.diffusion.guidance_interval=null").model).eval()
    model.backbone = _MeanClassifier(model.backbone.n_mels, model.backbone.channels)
    with open_dict(model.cfg):
        model.cfg.backbone.labels = ["loud", "quiet"]
    return model


def test_guidance_moves_samples_toward_the_requested_class(make_cfg):
    model = _generator_on_the_mean_classifier(make_cfg)
    plain = model.generate(num_samples=4, steps=4, seed=0)
    loud = model.generate(["loud"] * 4, steps=4, guidance_scale=3.0, seed=0)
    quiet = model.generate([1] * 4, steps=4, guidance_scale=3.0, seed=0)
    assert loud.shape == (4, model.backbone.n_mels, 100)
    assert loud.mean() > plain.mean() + 0.1 > quiet.mean() + 0.2


def test_save_restore_keeps_the_backbone_inside(make_cfg, classifier_nemo, tmp_path):
    import os
    import shutil

    from nemo.core.classes import ModelPT

    from nemo_distill.models import ClassifierGuidedGenerator

    torch.manual_seed(1)
    model = ClassifierGuidedGenerator(make_cfg().model).eval()
    path = str(tmp_path / "guided.nemo")
    model.save_to(path)
    moved = classifier_nemo + ".away"
    shutil.move(classifier_nemo, moved)  # the generator must not need the classifier file any more
    try:
        restored = ModelPT.restore_from(path, map_location="cpu").eval()
    finally:
        shutil.move(moved, classifier_nemo)
    assert isinstance(restored, ClassifierGuidedGenerator) and os.path.exists(classifier_nemo)
    for key, value in model.state_dict().items():
        assert torch.equal(value, restored.state_dict()[key]), key
    assert torch.equal(model.generate([3, 7], steps=3, guidance_scale=1.0, seed=2),
                       restored.generate([3, 7], steps=3, guidance_scale=1.0, seed=2))


def test_bad_input(make_cfg, tmp_path):
    from nemo_distill.models import ClassifierGuidedGenerator, ToyDiffusionModel
    from nemo_distill.utils.config import compose_config

    model = ClassifierGuidedGenerator(make_cfg().model).eval()
    for labels in ([11], ["eleven"], [2.5]):
        with pytest.raises(ValueError, match="not in the class set"):
            model.generate(labels, steps=2)
    with pytest.raises(ValueError, match="guidance_scale > 0 needs labels"):
        model.generate(num_samples=2, steps=2, guidance_scale=1.0)
    with pytest.raises(ValueError, match="frames: generator 90, classifier 100"):
        ClassifierGuidedGenerator(make_cfg("model.mel={sample_rate: 16000, n_mels: 64, frames: 90, mel_mean: -5.0, "
                                           "mel_scale: 2.5}").model)
    toy = str(tmp_path / "toy.nemo")
    ToyDiffusionModel(compose_config("toy_diffusion").model).save_to(toy)
    with pytest.raises(TypeError, match="holds a ToyDiffusionModel, not a NoisyClassifierModel"):
        ClassifierGuidedGenerator(make_cfg(f"backbone_path={toy}").model)


def test_train_script_saves_the_model_and_one_sample_per_class(digit_corpus, classifier_nemo, tmp_path):
    """scripts/train_guided.py's main in this process, on the config its hydra_runner would compose."""
    import soundfile as sf

    from nemo_distill.utils.config import compose_config
    from tts_fixtures import load_script

    load_script("train_guided").main(compose_config("classifier_guided", [
        f"backbone_path={classifier_nemo}", f"train_dataset={digit_corpus}/train_manifest.json",
        f"validation_datasets={digit_corpus}/val_manifest.json", *TINY_SCORE, "+trainer.max_steps=2",
        "trainer.accelerator=cpu", "+sample_steps=2", f"exp_manager.exp_dir={tmp_path}", "+exp_manager.version=run"]))
    log_dir = tmp_path / "ClassifierGuided" / "run"
    assert (log_dir / "ClassifierGuided.nemo").is_file()
    from corpus_builders.digits import DIGITS

    for word in DIGITS:
        audio, rate = sf.read(log_dir / "samples" / f"{word}.wav")
        assert rate == 16000 and abs(len(audio) - 16000) <= 160 and abs(audio).max() > 0
        assert (log_dir / "samples" / f"{word}.png").stat().st_size > 1000


def test_score_network_reading_the_logsumexp_gradient(make_cfg):
    from nemo_distill.models import ClassifierGuidedGenerator

    torch.manual_seed(0)
    model = ClassifierGuidedGenerator(make_cfg("model.score_net.use_logsumexp_grad=true").model)
    torch.nn.init.normal_(model.score_net.output.weight, std=0.1)  # zero-initialised, it passes no gradient back
    audio, lens, _, _ = next(iter(model._train_dl))
    taps, lse_grad, class_grad = model.classifier_pass(torch.randn(2, 64, 100), torch.tensor([0.0, 3.0]),
                                                      logsumexp_grad=True)
    assert lse_grad.shape == (2, 64, 100) and lse_grad.abs().sum() > 0 and class_grad is None
    loss = model.denoising_loss(model.mel(audio, lens)[:2])
    loss.backward()  # the input layer reading the gradient channel is trained
    assert model.score_net.input.weight.grad[:, 1].abs().sum() > 0
    assert not any(p.grad is not None for p in model.backbone.parameters())
    model.eval()
    guided = model.generate([0, 1], steps=2, guidance_scale=2.0, seed=0)
    assert torch.isfinite(guided).all() and not torch.equal(guided, model.generate([0, 1], steps=2, seed=0))


def test_own_encoder_reaches_every_tap_level_and_old_checkpoints_keep_their_keys():
    from nemo_distill.modules.tap_score_net import TapScoreNet

    torch.manual_seed(0)
    channels, taps = (8, 16, 32), [torch.randn(2, 8, 32, 50), torch.randn(2, 16, 16, 25), torch.randn(2, 32, 8, 13)]
    plain = TapScoreNet(64, channels, width=8, embedding_dim=16, num_blocks=1, stride=2)
    own = TapScoreNet(64, channels, width=8, embedding_dim=16, num_blocks=1, stride=2, own_encoder=True)
    assert not any(key.startswith("encoder.") for key in plain.state_dict())  # a .nemo made before it still loads
    assert len(own.encoder) == 2
    torch.nn.init.normal_(own.output.weight, std=0.1)  # zero-initialised, it passes no gradient back
    z_t, log_snr = torch.randn(2, 64, 100), torch.tensor([-5.0, 2.0])
    eps = own(z_t, log_snr, taps)
    assert eps.shape == (2, 64, 100)
    eps.square().sum().backward()
    for block in own.encoder:  # the deepest level's features come from z_t through the trainable encoder
        assert block.conv1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_prediction_parameterization_trains_on_its_target_and_samples_the_same_x0(make_cfg, prediction):
    """An oracle score network that knows x0 and eps: the loss is zero only for the named target, and the sampler's
    x0 (unguided and guided) is the same whichever parameterization carries it."""
    from nemo_distill.diffusion import alpha_sigma, noise_data
    from nemo_distill.models import ClassifierGuidedGenerator

    model = ClassifierGuidedGenerator(make_cfg(f"model.diffusion.parameterization={prediction}",
                                               "model.diffusion.clip_x0=null").model).eval()
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 64, 100, generator=generator)
    eps = torch.randn(3, 64, 100, generator=generator)
    log_snr = torch.tensor([-4.0, 0.0, 3.0])
    z_t = noise_data(x0, log_snr, eps)
    alpha, sigma = (a[:, None, None] for a in alpha_sigma(log_snr))
    targets = {"eps": eps, "v": alpha * eps - sigma * x0}
    backbone_grad = torch.randn(3, 64, 100, generator=generator)
    model.predict = lambda z, s, labels=None: (targets[prediction], None if labels is None else backbone_grad)

    torch.testing.assert_close(model.predict_eps(z_t, log_snr), eps)
    torch.testing.assert_close(model.denoiser(None, 0.0)(z_t, log_snr), x0, atol=1e-4, rtol=1e-4)
    guided = model.denoiser(torch.tensor([0, 1, 2]), 2.0)(z_t, log_snr)
    torch.testing.assert_close(guided, (z_t - sigma * (eps - 2.0 * sigma * backbone_grad)) / alpha,
                               atol=1e-4, rtol=1e-4)

    # denoising_loss draws t, then eps, from the generator it is given: the same draw here gives the oracle's outputs
    draw = torch.Generator().manual_seed(5)
    x0_batch = torch.randn(2, 64, 100, generator=generator)
    log_snr_batch = model.schedule(torch.rand(2, generator=draw, dtype=torch.float64)).float()
    eps_batch = torch.randn(x0_batch.shape, generator=draw)
    a, s = (v[:, None, None] for v in alpha_sigma(log_snr_batch))
    for name, output in {"eps": eps_batch, "v": a * eps_batch - s * x0_batch}.items():
        model.predict = lambda z, snr, labels=None, output=output: (output, None)
        loss = model.denoising_loss(x0_batch, torch.Generator().manual_seed(5))
        assert (float(loss) < 1e-8) == (name == prediction), (name, float(loss))


def test_unknown_prediction_is_refused(make_cfg):
    from nemo_distill.models import ClassifierGuidedGenerator

    with pytest.raises(ValueError, match="diffusion.parameterization must be one of \\['eps', 'v'\\], got 'x1'"):
        ClassifierGuidedGenerator(make_cfg("model.diffusion.parameterization=x1").model)


def test_guidance_interval_guides_only_the_steps_inside_it(make_cfg):
    from omegaconf import open_dict

    model = _generator_on_the_mean_classifier(make_cfg)
    plain = model.generate(num_samples=4, steps=4, seed=0)
    everywhere = model.generate(["loud"] * 4, steps=4, guidance_scale=3.0, seed=0)
    assert torch.equal(model.generate(["loud"] * 4, steps=4, guidance_scale=3.0, seed=0,
                                      guidance_interval=(0.0, 1.0)), everywhere)
    # a 4-step sampler visits t = 1, 0.75, 0.5, 0.25: none of them lies in [0.8, 0.9]
    assert torch.equal(model.generate(["loud"] * 4, steps=4, guidance_scale=3.0, seed=0,
                                      guidance_interval=(0.8, 0.9)), plain)
    partly = model.generate(["loud"] * 4, steps=4, guidance_scale=3.0, seed=0, guidance_interval=(0.4, 0.8))
    assert plain.mean() < partly.mean() < everywhere.mean()
    with open_dict(model.cfg):
        model.cfg.diffusion.guidance_interval = [0.4, 0.8]  # the config's interval is the default
    assert torch.equal(model.generate(["loud"] * 4, steps=4, guidance_scale=3.0, seed=0), partly)
    for bad in [(0.5, 0.5), (-0.1, 0.5), (0.2, 1.5)]:
        with pytest.raises(ValueError, match="guidance_interval must be \\(t_min, t_max\\) with 0 <= t_min < t_max"):
            model.generate(["loud"], steps=2, guidance_scale=1.0, guidance_interval=bad)
