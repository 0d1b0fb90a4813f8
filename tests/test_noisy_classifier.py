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

"""The noise-conditioned digit classifier: feature taps, training at all noise levels, bad labels, .nemo, script."""

import json

import pytest
import torch

TINY = ["model.classifier.channels=[8,16,16]", "model.classifier.embedding_dim=16", "model.train_ds.batch_size=10",
        "model.validation_ds.batch_size=10"]


@pytest.fixture(scope="module")
def make_cfg(digit_corpus):
    from nemo_distill.utils.config import compose_config

    def make(*overrides):
        return compose_config("noisy_classifier", [
            f"train_dataset={digit_corpus}/train_manifest.json",
            f"validation_datasets={digit_corpus}/val_manifest.json", *TINY, *overrides])

    return make


def test_taps_have_the_documented_shapes():
    from nemo_distill.modules.noisy_classifier import NoisyMelClassifier

    net = NoisyMelClassifier(n_mels=64, num_classes=10, channels=(8, 16, 24), embedding_dim=16)
    for frames in (100, 37):
        logits, taps = net.forward_with_taps(torch.randn(2, 64, frames), torch.tensor([-3.0, 4.0]))
        assert logits.shape == (2, 10)
        assert [tuple(tap.shape) for tap in taps] == [(2, *shape) for shape in net.tap_shapes(frames)]
    assert net.tap_shapes(37) == [(8, 64, 37), (16, 32, 19), (24, 16, 10)]
    strided = NoisyMelClassifier(n_mels=64, num_classes=10, channels=(8, 16), embedding_dim=16, stem_stride=2)
    _, taps = strided.forward_with_taps(torch.randn(2, 64, 37), torch.zeros(2))
    assert [tuple(tap.shape[1:]) for tap in taps] == strided.tap_shapes(37) == [(8, 32, 19), (16, 16, 10)]


def test_noise_level_changes_the_logits():
    from nemo_distill.modules.noisy_classifier import NoisyMelClassifier

    torch.manual_seed(0)
    net = NoisyMelClassifier(n_mels=16, channels=(8, 8), embedding_dim=16)
    z = torch.randn(1, 16, 20)
    assert not torch.allclose(net(z, torch.tensor([-5.0])), net(z, torch.tensor([5.0])))


def test_training_reduces_the_loss_and_validation_reports_each_level(make_cfg, tmp_path):
    import lightning.pytorch as pl

    from nemo_distill.models import NoisyClassifierModel

    torch.manual_seed(0)
    model = NoisyClassifierModel(make_cfg("model.optim.lr=3e-3").model)
    audio, lens, labels, _ = next(iter(model._train_dl))
    x0 = model.audio_to_x0(audio, lens)
    assert x0.shape == (10, 64, 100) and torch.isfinite(x0).all()
    log_snr = torch.full((10,), 5.0)  # lightly noised: learnable in a few steps
    z_t = x0 + 0.05 * torch.randn_like(x0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(z_t, log_snr), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < 0.7 * losses[0]

    trainer = pl.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         default_root_dir=str(tmp_path))
    model.set_trainer(trainer)
    trainer.fit(model)
    metrics = trainer.callback_metrics
    for key in ("train_loss", "val_loss", "val_acc", "val_acc_t0.00", "val_acc_t0.50", "val_acc_t0.90"):
        assert key in metrics and torch.isfinite(metrics[key]), key
    accuracy = model.eval().accuracy_per_level(model._validation_dl, [0.0, 1.0])
    assert set(accuracy) == {0.0, 1.0} and all(0.0 <= a <= 1.0 for a in accuracy.values())


def test_labels_outside_the_class_set_are_refused(make_cfg, digit_corpus, tmp_path):
    from nemo_distill.models import NoisyClassifierModel

    rows = (digit_corpus / "val_manifest.json").read_text().splitlines()
    bad = json.loads(rows[1])
    bad["label"] = "eleven"
    manifest = tmp_path / "bad.json"
    manifest.write_text("\n".join([rows[0], json.dumps(bad)]) + "\n")
    with pytest.raises(ValueError, match="line 2: label 'eleven' is not one of"):
        NoisyClassifierModel(make_cfg(f"validation_datasets={manifest}").model)
    with pytest.raises(ValueError, match="num_classes .* must equal the number of labels"):
        NoisyClassifierModel(make_cfg("model.classifier.num_classes=7").model)


def test_save_restore_identical(make_cfg, tmp_path):
    from nemo.core.classes import ModelPT

    from nemo_distill.models import NoisyClassifierModel

    model = NoisyClassifierModel(make_cfg().model).eval()
    path = str(tmp_path / "classifier.nemo")
    model.save_to(path)
    restored = ModelPT.restore_from(path, map_location="cpu").eval()
    assert isinstance(restored, NoisyClassifierModel)
    z, log_snr = torch.randn(2, 64, 100), torch.tensor([0.0, 2.0])
    assert torch.equal(model(z, log_snr), restored(z, log_snr))
    assert restored.mel_settings == model.mel_settings


def test_train_script_writes_nemo_and_accuracy_per_level(digit_corpus, tmp_path, capsys):
    """scripts/train_classifier.py's main in this process, on the config its hydra_runner would compose."""
    from nemo_distill.utils.config import compose_config
    from tts_fixtures import load_script

    load_script("train_classifier").main(compose_config("noisy_classifier", [
        f"train_dataset={digit_corpus}/train_manifest.json", f"validation_datasets={digit_corpus}/val_manifest.json",
        f"+test_dataset={digit_corpus}/test_manifest.json", *TINY, "trainer.max_epochs=1", "trainer.accelerator=cpu",
        f"exp_manager.exp_dir={tmp_path}", "+exp_manager.version=run"]))
    log_dir = tmp_path / "NoisyClassifier" / "run"
    report = json.loads((log_dir / "accuracy_per_level.json").read_text())
    assert report["manifest"].endswith("test_manifest.json")
    assert set(report["accuracy"]) == {"0.00", "0.10", "0.25", "0.40", "0.50", "0.60", "0.75", "0.90", "1.00"}
    assert (log_dir / "NoisyClassifier.nemo").is_file()
    assert "accuracy per diffusion time" in capsys.readouterr().out
