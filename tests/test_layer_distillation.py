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

"""Layer budgets: the denoiser at fewer residual blocks per call, the layer-distillation stage, export and report."""

import math
import os

import numpy as np
import pytest
import torch

BLOCKS = 6


def _denoiser(**kwargs):
    from nemo_distill.modules.mel_denoiser import MelDenoiser

    torch.manual_seed(0)
    denoiser = MelDenoiser(n_mels=20, cond_channels=12, channels=16, num_blocks=BLOCKS, dilation_cycle=3,
                           **kwargs).eval()
    for module in (denoiser.output[-1], denoiser.embed_budget[-1]):  # both start at zero: make them count
        torch.nn.init.normal_(module.weight, std=0.3)
    return denoiser


def _inputs(seed=0, batch=3, frames=40):
    generator = torch.Generator().manual_seed(seed)
    z_t = torch.randn(batch, 20, frames, generator=generator)
    log_snr = torch.linspace(-4, 4, batch)
    cond = torch.randn(batch, 12, frames, generator=generator)
    prior = torch.randn(batch, 20, frames, generator=generator)
    lengths = torch.tensor([frames] + [frames // 2] * (batch - 1))
    mask = (torch.arange(frames)[None] < lengths[:, None])[:, None].float()
    return z_t, log_snr, cond, prior, mask


def _full_depth_by_hand(denoiser, z_t, log_snr, cond, prior, mask):
    """The denoiser as it was before layer budgets existed: every block, skips summed, times 1 / sqrt(N)."""
    h = denoiser.input(torch.cat([z_t, prior], dim=1) * mask)
    cond = denoiser.cond_input(cond * mask)
    embedding = denoiser.embed_log_snr(log_snr)
    skip_sum = 0.0
    for block in denoiser.blocks:
        h, skip = block(h, embedding, cond, mask)
        skip_sum = skip_sum + skip
    return denoiser.output(skip_sum * len(denoiser.blocks) ** -0.5) * mask


@torch.no_grad()
def test_a_budget_of_all_blocks_is_the_full_model_exactly():
    denoiser, inputs = _denoiser(), _inputs()
    full = _full_depth_by_hand(denoiser, *inputs)
    assert full.abs().max() > 1e-2  # not a trivially-zero comparison
    assert (denoiser(*inputs) - full).abs().max() == 0
    assert (denoiser(*inputs, layer_budget=BLOCKS) - full).abs().max() == 0
    # fewer blocks: another prediction, and the budget embedding is part of it (it adds exactly zero at full depth)
    reduced = denoiser(*inputs, layer_budget=3)
    assert (reduced - full).abs().max() > 1e-3
    torch.nn.init.normal_(denoiser.embed_budget[-1].weight, std=0.3)
    assert (denoiser(*inputs, layer_budget=3) - reduced).abs().max() > 1e-4
    assert (denoiser(*inputs) - full).abs().max() == 0


def test_macs_fall_with_the_budget():
    from torch.utils.flop_counter import FlopCounterMode

    denoiser, inputs = _denoiser(), _inputs()
    macs = []
    for budget in range(1, BLOCKS + 1):
        with torch.no_grad(), FlopCounterMode(display=False) as flops:
            denoiser(*inputs, layer_budget=budget)
        macs.append(flops.get_total_flops() / 2)
    assert all(a < b for a, b in zip(macs, macs[1:])), macs
    per_block = macs[1] - macs[0]
    assert all(math.isclose(b - a, per_block, rel_tol=1e-6) for a, b in zip(macs, macs[1:]))  # one block each


@pytest.mark.parametrize("budget", [0, BLOCKS + 1, True, 2.5, "4"])
def test_a_budget_the_network_cannot_run_is_refused(budget):
    denoiser, inputs = _denoiser(), _inputs()
    with pytest.raises(ValueError, match=rf"layer_budget must be an integer in 1\.\.{BLOCKS}"):
        denoiser(*inputs, layer_budget=budget)


def test_sampling_options_and_config_refuse_bad_budgets(voice):
    from omegaconf import open_dict

    from nemo_distill.diffusion import SamplingOptions
    from nemo_distill.models import DiffusionSpectrogramGenerator

    with pytest.raises(ValueError, match="layer_budget must be an integer >= 1"):
        SamplingOptions(layer_budget=0)
    generator, _, _ = voice
    tokens, _ = generator.parse_batch(["hello world."])
    with pytest.raises(ValueError, match=r"layer_budget must be an integer in 1\.\.4"):
        generator.generate_spectrogram(tokens, layer_budget=5)
    cfg = generator.cfg.copy()
    with open_dict(cfg):
        cfg.diffusion.layer_budget = 9
    with pytest.raises(ValueError, match=r"layer_budget must be an integer in 1\.\.4"):
        DiffusionSpectrogramGenerator(cfg)


@torch.no_grad()
def test_calibrated_rescale_keeps_the_output_layers_input_variance():
    """Calibrated on one batch, every budget's skip stream has the full model's RMS on another batch (other noise,
    conditioning and noise levels); without a rescale the reduced streams are far weaker (the test can fail)."""
    denoiser = _denoiser()
    denoiser.calibrate_skip_scales(*_inputs(seed=0, batch=8))
    held_out = _inputs(seed=1, batch=8, frames=64)
    z_t, _, cond, prior, mask = held_out
    log_snr = torch.linspace(-6, 6, 8).flip(0)

    def rms(budget, rescale=True):
        stream = denoiser.skip_stream(z_t, log_snr, cond, prior, mask, budget, rescale=rescale)
        return float(((stream**2 * mask).sum() / (mask.sum() * stream.shape[1])).sqrt())

    full = rms(BLOCKS)
    for budget in range(1, BLOCKS):
        assert abs(rms(budget) / full - 1) < 0.1, (budget, rms(budget), full)
    assert rms(2, rescale=False) / full < 0.8


def test_a_denoiser_saved_before_layer_budgets_loads_and_matches():
    denoiser, inputs = _denoiser(), _inputs()
    state = {k: v for k, v in denoiser.state_dict().items()
             if not k.startswith("embed_budget.") and k != "skip_scales"}
    fresh = _denoiser()
    for p in fresh.parameters():
        torch.nn.init.normal_(p)
    fresh.load_state_dict(state)  # strict
    with torch.no_grad():
        assert (fresh(*inputs) - denoiser(*inputs)).abs().max() == 0
    assert fresh.embed_budget[-1].weight.abs().max() == 0  # filled as untrained: no effect on any budget
    assert torch.allclose(fresh.skip_scales[:-1], torch.arange(1, BLOCKS, dtype=torch.float32).rsqrt())


# ------------------------------------------------------------------------------------------ the layer stage
def _cfg(teacher, manifest, out_dir, *overrides):
    from nemo_distill.utils.config import compose_config

    return compose_config("distillation_tiny", [
        f"teacher={teacher}", f"texts={manifest}", f"out_dir={out_dir}", "exp_manager.create_tensorboard_logger=false",
        "plan.teacher_steps=8", "plan.student_steps=4", "layers.budgets=[2, 3]", "layers.round_steps=16",
        "model.optim.lr=3e-3", *overrides,
    ])


@pytest.fixture(scope="module")
def layered(teacher_nemo, corpus, tmp_path_factory):
    from nemo_distill.distillation import run_distillation

    out = tmp_path_factory.mktemp("layers")
    return out, run_distillation(_cfg(teacher_nemo, corpus[1], out))


def _sha(path):
    from nemo_distill.utils.files import sha256_file

    return sha256_file(path)


def test_the_layer_stage_trains_a_student_with_lineage(layered, teacher_nemo):
    from nemo_distill.diffusion import SamplingOptions, frame_mask
    from nemo_distill.models import DiffusionSpectrogramGenerator

    out, paths = layered
    assert [os.path.basename(p) for p in paths] == ["Student_4steps.nemo", "Student_4steps_layers.nemo"]
    base = DiffusionSpectrogramGenerator.from_nemo(paths[0])
    student = DiffusionSpectrogramGenerator.from_nemo(paths[1])
    lineage = student.cfg.distillation
    assert lineage.stage == "layers" and lineage.steps == lineage.teacher_steps == 4 and lineage.round == 2
    assert list(lineage.layer_budgets) == [2, 3] and lineage.layer_budget == 2 and lineage.num_blocks == 4
    assert lineage.layer_rescale == "calibrated"
    assert lineage.teacher_sha256 == _sha(paths[0]) and lineage.origin_teacher_sha256 == _sha(teacher_nemo)
    assert student.cfg.diffusion.layer_budget == 2 and student.cfg.diffusion.default_steps == 4
    # the decoder was trained and calibrated, the front-end was not touched
    s_state, b_state = student.state_dict(), base.state_dict()
    assert any(not torch.equal(s_state[k], b_state[k]) for k in s_state if k.startswith("decoder.denoiser.blocks"))
    assert all(torch.equal(s_state[k], b_state[k]) for k in b_state if not k.startswith("decoder."))
    default_scales = torch.arange(1, 5, dtype=torch.float32).rsqrt()
    assert not torch.allclose(student.decoder.denoiser.skip_scales[:-1], default_scales[:-1])
    # sampling defaults to the stage's budget: the same mel as asking for 2 blocks, not the full depth's
    tokens, _ = student.parse_batch(["hello world.", "a tiny test sentence."])
    cond, coarse, lengths = student.encode(tokens)
    decode = lambda **kw: student.decoder.decode(cond, coarse, lengths, SamplingOptions(seed=0, **kw))  # noqa: E731
    default, two, full = decode(), decode(layer_budget=2), decode(layer_budget=4)
    mask = frame_mask(lengths, default.shape[-1]).expand_as(default)
    assert torch.equal(default, two) and (default - full)[mask].abs().max() > 1e-4
    # the rounds' checkpoints hold the student (not the frozen full-depth copy)
    checkpoints = sorted((out / "rounds" / "round_02_layers_4steps" / "checkpoints").glob("*.ckpt"))
    state = torch.load(checkpoints[0], map_location="cpu", weights_only=False)["state_dict"]
    assert "decoder.denoiser.skip_scales" in state and not any(k.startswith("teacher_decoder.") for k in state)


def test_a_rerun_reuses_the_layer_student_even_with_other_budgets(layered, teacher_nemo, corpus):
    """A finished layer student is never overwritten: other budgets keep it (a warning names them; move it away to
    redo it)."""
    from nemo_distill.distillation import run_distillation

    out, paths = layered
    before = _sha(paths[1])
    assert run_distillation(_cfg(teacher_nemo, corpus[1], out)) == paths
    assert run_distillation(_cfg(teacher_nemo, corpus[1], out, "layers.budgets=[1]")) == paths
    assert _sha(paths[1]) == before


def test_a_budget_the_teacher_cannot_run_is_refused_before_any_work(teacher_nemo, corpus, tmp_path):
    from nemo_distill.distillation import run_distillation

    with pytest.raises(ValueError, match=r"layer_budget must be an integer in 1\.\.4"):
        run_distillation(_cfg(teacher_nemo, corpus[1], tmp_path / "bad", "layers.budgets=[5]"))
    assert not (tmp_path / "bad").exists()


def test_the_layer_stage_on_the_teacher_itself(teacher_nemo, corpus, tmp_path):
    """plan.student_steps == teacher_steps: no step rounds, the layer stage distils the teacher at its steps."""
    from nemo_distill.distillation import run_distillation
    from nemo_distill.models import DiffusionSpectrogramGenerator

    paths = run_distillation(_cfg(teacher_nemo, corpus[1], tmp_path, "plan.student_steps=8", "layers.budgets=[3]",
                                  "layers.rescale=sqrt", "layers.denoising_weight=0.5"))
    assert [os.path.basename(p) for p in paths] == ["Student_8steps_layers.nemo"]
    student = DiffusionSpectrogramGenerator.from_nemo(paths[0])
    assert student.cfg.distillation.teacher_sha256 == _sha(teacher_nemo)
    assert student.cfg.distillation.layer_denoising_weight == 0.5 and student.cfg.diffusion.layer_budget == 3
    assert torch.allclose(student.decoder.denoiser.skip_scales, torch.arange(1, 5, dtype=torch.float32).rsqrt())


# ------------------------------------------------------------------------------------------------ export
def test_an_exported_budget_matches_pytorch_and_holds_only_its_blocks(voice, tmp_path):
    import onnx
    import onnxruntime as ort

    generator, _, _ = voice
    tokens, _ = generator.parse_batch(["hello world.", "a tiny test sentence, longer."])
    noise = torch.randn(2, 80, tokens.shape[1] * 75, generator=torch.Generator().manual_seed(1))
    cond, coarse_mel, mel_lens = generator.encode(tokens)
    inputs = {"cond": cond.numpy(), "coarse_mel": coarse_mel.numpy(), "mel_lens": mel_lens.long().numpy(),
              "noise": noise.numpy()}
    convs = {}
    for budget in (2, None):
        path = str(tmp_path / f"sampler_{budget}.onnx")
        generator.export(path, form="sampler", layer_budget=budget)
        reference = generator.generate_spectrogram(tokens, noise=noise, layer_budget=budget)
        (mel,) = ort.InferenceSession(path).run(None, inputs)
        assert np.abs(mel - reference.numpy()).max() < 1e-4
        convs[budget] = sum(node.op_type == "Conv" for node in onnx.load(path).graph.node)
        if budget == 2:
            budget_mel = mel
    assert np.abs(budget_mel - mel).max() > 1e-3  # the budget is really in the graph
    # the 2-block graph holds only the blocks it runs: each dropped block takes its two convolutions of every one
    # of the 4 steps and its conditioning convolution (the same at every step: the graph computes it once)
    assert convs[None] - convs[2] == 2 * (4 * 2 + 1)
    step = str(tmp_path / "step.onnx")
    generator.export(step, form="step", layer_budget=2)
    example = generator.decoder.denoiser.input_example(2, 30)
    with torch.no_grad():
        expected = generator.decoder.denoiser(*example, layer_budget=2).numpy()
    session = ort.InferenceSession(step)
    (prediction,) = session.run(None, {i.name: x.numpy() for i, x in zip(session.get_inputs(), example)})
    assert np.abs(prediction - expected).max() < 1e-4


def test_export_script_records_the_budget_and_refuses_a_bad_one(voice, tmp_path, capsys):
    import json

    from nemo_distill.cli.export import main

    _, _, paths = voice
    arguments = ["--vocoder", paths["vocoder"], "--layer-budget"]
    assert main([paths["generator"], str(tmp_path / "repo"), *arguments, "3"]) == 0
    assert json.loads((tmp_path / "repo" / "deploy.json").read_text())["layer_budget"] == 3
    assert main([paths["generator"], str(tmp_path / "bad"), *arguments, "7"]) == 2
    assert "layer_budget must be an integer in 1..4" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


# ------------------------------------------------------------------------------------------------ report
def test_benchmark_layer_report(layered, teacher_nemo, corpus, voice, tmp_path):
    """scripts/benchmark.py --layer-budgets: every model at full depth and each budget, MACs falling with the
    budget, the layer student compared with the model it was distilled from, the table and the plot."""
    from tts_fixtures import load_benchmark_script

    module = load_benchmark_script()
    root, manifest = corpus
    _, paths = layered
    out = tmp_path / "bench"
    results = module.main([teacher_nemo, "--manifest", manifest, "--sup-data-path", f"{root}/sup", "--students",
                           *paths, "--teacher-steps", "8", "--layer-budgets", "3", "2", "--no-wer", "--out-dir",
                           str(out), "--max-utterances", "3", "--no-dnsmos", "--vocoder", voice[2]["vocoder"]])
    assert list(results) == ["recording", "teacher_8", "teacher_8_L3", "teacher_8_L2", "student_4", "student_4_L3",
                             "student_4_L2", "layers_4", "layers_4_L3", "layers_4_L2"]
    for model in ("teacher_8", "student_4", "layers_4"):
        macs = [results[f"{model}{suffix}"]["macs_per_call"] for suffix in ("", "_L3", "_L2")]
        assert macs[0] > macs[1] > macs[2]
        assert results[f"{model}_L2"]["layer_budget"] == 2 and results[f"{model}_L2"]["l1_to_full_depth"] > 0
    assert results["student_4"]["macs_per_utt"] == 4 * results["student_4"]["macs_per_call"]
    # naive dropping and the trained budget start from the same full-depth model: the trained budget is the closer
    assert results["layers_4"]["l1_to_full_depth"] > 0  # training at the budgets moved the shared blocks too
    trained, dropped = results["layers_4_L2"]["l1_to_full_depth"], results["student_4_L2"]["l1_to_full_depth"]
    assert trained < dropped
    table = (out / "layers_table.md").read_text()
    assert "M MACs / call" in table and "L1 to full depth" in table and (out / "layers.png").stat().st_size > 0


def test_every_parameter_gets_a_gradient_at_full_depth():
    """DDP (without find_unused_parameters) needs a gradient for every parameter of a full-depth training step, the
    budget embedding's included; its contribution stays exactly zero."""
    denoiser, inputs = _denoiser(), _inputs()
    denoiser.train()
    output = denoiser(*inputs)
    output.square().mean().backward()
    assert all(p.grad is not None for p in denoiser.parameters())
    with torch.no_grad():
        assert (output - _full_depth_by_hand(denoiser, *inputs)).abs().max() == 0
