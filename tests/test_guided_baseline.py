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

"""The two-model baseline (U-Net + separate classifier), the clean-clip judge, peak memory and the guided benchmark."""

import json

import pytest
import torch

TINY_UNET = ["model.score_net.channels=[8,16]", "model.score_net.blocks_per_level=1",
             "model.score_net.embedding_dim=16", "model.train_ds.batch_size=10", "model.validation_ds.batch_size=10"]
TINY_TAPS = ["model.score_net.width=8", "model.score_net.embedding_dim=16", "model.score_net.num_blocks=1",
             "model.train_ds.batch_size=10", "model.validation_ds.batch_size=10"]
TINY_JUDGE = ["model.classifier.filters=[16,8,16]", "model.classifier.kernels=[5,5,1]",
              "model.classifier.dilations=[1,1,1]", "model.train_ds.batch_size=10", "model.validation_ds.batch_size=10"]


def _data(corpus):
    return [f"train_dataset={corpus}/train_manifest.json", f"validation_datasets={corpus}/val_manifest.json"]


@pytest.fixture(scope="module")
def two_model_cfg(digit_corpus, classifier_nemo):
    from nemo_distill.utils.config import compose_config

    return compose_config("two_model_guided", [*_data(digit_corpus), f"classifier_path={classifier_nemo}",
                                               *TINY_UNET])


def test_unet_predicts_noise_of_the_input_shape_and_reads_the_noise_level():
    from nemo_distill.modules.unet_score_net import UNetScoreNet

    torch.manual_seed(0)
    net = UNetScoreNet(n_mels=64, channels=(8, 16, 16), blocks_per_level=1, embedding_dim=16)
    for frames in (100, 37):
        z_t = torch.randn(2, 64, frames)
        assert torch.equal(net(z_t, torch.zeros(2)), torch.zeros(2, 64, frames))  # the output layer starts at 0
    torch.nn.init.normal_(net.output.weight, std=0.1)
    z_t = torch.randn(1, 64, 37).expand(2, -1, -1)
    eps = net(z_t, torch.tensor([-5.0, 5.0]))
    assert eps.shape == (2, 64, 37) and not torch.allclose(eps[0], eps[1])


def test_two_model_baseline_trains_only_its_unet_and_restores(two_model_cfg, classifier_nemo, tmp_path):
    import copy

    import lightning.pytorch as pl
    from nemo.core.classes import ModelPT

    from nemo_distill.models import TwoModelGuidedGenerator

    torch.manual_seed(0)
    trainer = pl.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=1, default_root_dir=str(tmp_path))
    model = TwoModelGuidedGenerator(two_model_cfg.model, trainer=trainer)
    source = ModelPT.restore_from(classifier_nemo, map_location="cpu").classifier.state_dict()
    assert all(torch.equal(model.classifier.state_dict()[k], v) for k, v in source.items())
    unet_before = copy.deepcopy(model.score_net.state_dict())
    trainer.fit(model)
    assert all(torch.equal(model.classifier.state_dict()[k], v) for k, v in source.items())
    assert any(not torch.equal(v, unet_before[k]) for k, v in model.score_net.state_dict().items())
    assert not model.train().classifier.training

    path = str(tmp_path / "baseline.nemo")
    model.save_to(path)
    restored = ModelPT.restore_from(path, map_location="cpu")
    assert isinstance(restored, TwoModelGuidedGenerator)
    model.eval(), restored.eval()
    assert torch.equal(model.generate([1, 8], steps=3, guidance_scale=2.0, seed=4),
                       restored.generate([1, 8], steps=3, guidance_scale=2.0, seed=4))
    with pytest.raises(ValueError, match="not in the class set"):
        restored.generate(["ten"], steps=2)


def test_guidance_costs_the_single_backbone_one_backward_and_the_baseline_a_whole_classifier(
        two_model_cfg, digit_corpus, classifier_nemo):
    """Unguided -> guided adds only the backbone's backward to the single-backbone step (its forward already ran for
    the taps) but the classifier's forward and backward to the two-model step."""
    from torch.utils.flop_counter import FlopCounterMode

    from nemo_distill.eval.guided_benchmark import step_cost
    from nemo_distill.models import ClassifierGuidedGenerator, TwoModelGuidedGenerator
    from nemo_distill.utils.config import compose_config

    ours = ClassifierGuidedGenerator(compose_config("classifier_guided", [
        *_data(digit_corpus), f"backbone_path={classifier_nemo}", *TINY_TAPS]).model).eval()
    baseline = TwoModelGuidedGenerator(two_model_cfg.model).eval()
    with FlopCounterMode(display=False) as counter:
        baseline.classifier(torch.randn(1, 64, 100), torch.zeros(1))
    classifier_forward = counter.get_total_flops() / 2
    extra = {}
    for name, model in (("ours", ours), ("baseline", baseline)):
        guided = step_cost(model, batch=2, guidance_scale=1.0, repeats=1)
        unguided = step_cost(model, batch=2, guidance_scale=0.0, repeats=1)
        assert guided["peak_mb"] > unguided["peak_mb"] > guided["weights_mb"] > 0
        extra[name] = guided["macs_per_sample"] - unguided["macs_per_sample"]
    assert extra["baseline"] - extra["ours"] == pytest.approx(classifier_forward, rel=1e-6)


def test_peak_tensor_memory_counts_live_storages_once():
    from nemo_distill.eval.peak_memory import PeakTensorMemory, module_bytes

    x = torch.randn(1000)
    with PeakTensorMemory() as memory:
        a = x * 2           # 4000 bytes
        b = a + 1           # 8000 alive
        del a               # 4000
        view = b.view(10, 100)
        view.add_(1)        # in place on b's storage: still 4000
        c = b * 3           # 8000
        del c
        d = b[:10].clone()  # 4040
    assert memory.peak_bytes == 8000 and memory.current_bytes == 4040 and d.numel() == 10
    linear = torch.nn.Linear(10, 5)
    assert module_bytes(linear, linear) == (50 + 5) * 4


def test_judge_is_a_clean_matchboxnet_and_the_mels_must_match(digit_corpus, classifier_nemo, two_model_cfg):
    from nemo.core.classes import ModelPT

    from nemo_distill.eval.guided_benchmark import JudgeFeatures, check_same_mels, diversity
    from nemo_distill.models import NoisyClassifierModel, TwoModelGuidedGenerator
    from nemo_distill.utils.config import compose_config

    judge = NoisyClassifierModel(compose_config("digit_judge", [*_data(digit_corpus), *TINY_JUDGE]).model)
    assert judge.cfg.train_max_time == 0.0
    logits, embeddings = JudgeFeatures(judge)(torch.randn(3, 64, 100) - 9.0)
    assert logits.shape == (3, 10) and embeddings.shape == (3, 16)
    baseline = TwoModelGuidedGenerator(two_model_cfg.model)
    check_same_mels(judge, [baseline])  # same preprocessor, frames and rate: accepted
    other = NoisyClassifierModel(compose_config("digit_judge", [*_data(digit_corpus), *TINY_JUDGE,
                                                                "model.frames=80"]).model)
    with pytest.raises(ValueError, match="frames: generator 100, judge 80"):
        check_same_mels(other, [baseline])
    with pytest.raises(TypeError, match="has no embed"):
        JudgeFeatures(ModelPT.restore_from(classifier_nemo, map_location="cpu"))
    with pytest.raises(ValueError, match="train_max_time must lie in"):
        NoisyClassifierModel(compose_config("digit_judge", [*_data(digit_corpus), *TINY_JUDGE,
                                                            "model.train_max_time=2"]).model)
    points = torch.tensor([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0], [10.0, 1.0]])
    assert diversity(points, torch.tensor([0, 0, 1, 1])) == pytest.approx((5.0 + 1.0) / 2)


def test_benchmark_script_measures_both_systems(digit_corpus, classifier_nemo, two_model_cfg, tmp_path):
    from nemo_distill.models import ClassifierGuidedGenerator, NoisyClassifierModel, TwoModelGuidedGenerator
    from nemo_distill.utils.config import compose_config

    torch.manual_seed(0)
    paths = {"guided": tmp_path / "guided.nemo", "baseline": tmp_path / "baseline.nemo",
             "judge": tmp_path / "judge.nemo"}
    ClassifierGuidedGenerator(compose_config("classifier_guided", [
        *_data(digit_corpus), f"backbone_path={classifier_nemo}", *TINY_TAPS]).model).save_to(str(paths["guided"]))
    TwoModelGuidedGenerator(two_model_cfg.model).save_to(str(paths["baseline"]))
    NoisyClassifierModel(compose_config("digit_judge", [*_data(digit_corpus), *TINY_JUDGE]).model).save_to(
        str(paths["judge"]))
    from tts_fixtures import load_script

    benchmark_guided = load_script("benchmark_guided")  # its main in this process
    out = tmp_path / "bench"
    common = ["--judge", str(paths["judge"]), "--manifest", f"{digit_corpus}/val_manifest.json",
              f"{digit_corpus}/test_manifest.json", "--out-dir", str(out)]
    benchmark_guided.main([*common, "--guided", str(paths["guided"]), "--baseline", str(paths["baseline"]),
                           "--guidance-scales", "0", "2", "--samples-per-class", "2", "--steps", "2",
                           "--cost-batch", "2", "--sampler", "ddpm"])
    results = json.loads((out / "results.json").read_text())
    assert set(results["cost"]) == {"single_backbone", "two_model"}
    rows = {(r["system"], r["guidance_scale"]) for r in results["quality"]}
    assert rows == {("real", None), *((s, g) for s in ("single_backbone", "two_model") for g in (0.0, 2.0))}
    for row in results["quality"]:
        assert 0.0 <= row["accuracy"] <= 1.0 and row["frechet"] >= 0 and row["diversity"] > 0
        if row["system"] != "real":  # 2 samples of each of the 10 classes: the mean of the classes' accuracies
            assert len(row["accuracy_per_class"]) == 10
            assert sum(row["accuracy_per_class"]) / 10 == pytest.approx(row["accuracy"])
    ours, base = results["cost"]["single_backbone"], results["cost"]["two_model"]
    assert ours["params"]["trainable"] < ours["params"]["total"]
    assert ours["guided"]["macs_per_sample"] > 0 and base["guided"]["ms_per_step"] > 0
    assert "| single_backbone |" in (out / "table.md").read_text()
    # without --guidance-interval each system is guided at its own config's interval (the presets': [0.2, 0.9])
    caption = (out / "table.md").read_text()
    assert "2 DDPM steps" in caption  # --sampler, for both systems
    assert "guidance at t in [0.2, 0.9] (single_backbone), t in [0.2, 0.9] (two_model)" in caption
    assert (out / "benchmark_guided.png").stat().st_size > 10000

    with pytest.raises(ValueError, match="holds a TwoModelGuidedGenerator, not a ClassifierGuidedGenerator"):
        benchmark_guided.main([*common, "--guided", str(paths["baseline"]), "--baseline", str(paths["baseline"])])
