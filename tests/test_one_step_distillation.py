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

"""The DMD and consistency stages of scripts/distill.py on the tiny teacher: what they train, what they write,
resume and refusals."""

import os

import pytest
import torch


def _cfg(teacher, manifest, out_dir, *overrides, config="dmd_tiny"):
    from nemo_distill.utils.config import compose_config

    return compose_config(config, [
        f"teacher={teacher}", f"texts={manifest}", f"out_dir={out_dir}", "exp_manager.create_tensorboard_logger=false",
        *overrides,
    ])


@pytest.fixture(scope="module")
def one_step(teacher_nemo, corpus, tmp_path_factory):
    """A DMD generator (adversarial head and regression on) and a consistency student, from one folder's shards."""
    from nemo_distill.distillation import run_distillation

    out = tmp_path_factory.mktemp("one_step")
    paths = run_distillation(_cfg(teacher_nemo, corpus[1], out, "dmd.adversarial_weight=0.005",
                                  "dmd.regression_weight=0.5", "consistency.enabled=true", "consistency.grid_steps=4",
                                  "consistency.round_steps=3"))
    return out, paths


def test_dmd_and_consistency_students_carry_lineage_and_synthesize(one_step, teacher_nemo):
    from nemo_distill.data.synthetic_shards import SyntheticShardStore
    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.utils.files import sha256_file

    out, paths = one_step
    assert [os.path.basename(p) for p in paths] == ["DMD_1steps_dmd.nemo", "DMD_1steps_consistency.nemo"]
    teacher = DiffusionSpectrogramGenerator.from_nemo(teacher_nemo)
    data_sha = SyntheticShardStore(str(out / "synthetic")).manifest_sha256()
    for path, stage in zip(paths, ("dmd", "consistency")):
        student = DiffusionSpectrogramGenerator.from_nemo(path)
        lineage = student.cfg.distillation
        assert lineage.stage == stage and lineage.steps == 1 and student.cfg.diffusion.default_steps == 1
        assert lineage.teacher_sha256 == sha256_file(teacher_nemo) == lineage.origin_teacher_sha256
        assert lineage.synthetic_data_sha256 == data_sha
        t_state, s_state = teacher.state_dict(), student.state_dict()
        assert any(not torch.equal(t_state[k], s_state[k]) for k in t_state if k.startswith("decoder."))
        assert all(torch.equal(t_state[k], s_state[k]) for k in t_state if not k.startswith("decoder."))
        tokens, _ = student.parse_batch(["hello world.", "a tiny test sentence."])
        mels = student.generate_spectrogram(tokens, seed=0)
        assert mels.shape[:2] == (2, 80) and torch.isfinite(mels).all()
    dmd = DiffusionSpectrogramGenerator.from_nemo(paths[0]).cfg.distillation
    assert dmd.dmd_adversarial_weight == 0.005 and dmd.dmd_regression_weight == 0.5 and dmd.generator_init == "teacher"
    assert list(dmd.dmd_t_range) == [0.02, 0.98] and dmd.dmd_fake_updates == 2
    assert DiffusionSpectrogramGenerator.from_nemo(paths[1]).cfg.distillation.consistency_grid_steps == 4


def test_dmd_round_trains_generator_and_fake_denoiser_teacher_frozen(one_step, teacher_nemo):
    """The round's checkpoint: the generator and the fake denoiser both moved from the teacher (each trained in its
    own turns), the head exists, the teacher is left out; restoring it gives the frozen teacher back."""
    from omegaconf import OmegaConf

    from nemo_distill.models import DiffusionSpectrogramGenerator, DistributionMatchingDistillation

    out, _ = one_step
    folder = out / "rounds" / "round_01_dmd_1steps" / "checkpoints"
    last = [f for f in os.listdir(folder) if f.endswith("-last.ckpt")]
    checkpoint = torch.load(folder / last[0], map_location="cpu", weights_only=False)
    state = checkpoint["state_dict"]
    assert not any(k.startswith("teacher_decoder.") for k in state)
    assert any(k.startswith("discriminator.") for k in state)
    assert len(checkpoint["optimizer_states"]) == 2
    # 2 generator updates x (2 fake + 1 generator) optimizer steps
    assert checkpoint["global_step"] == 6
    teacher = DiffusionSpectrogramGenerator.from_nemo(teacher_nemo).decoder.state_dict()
    for prefix in ("decoder.", "fake_decoder."):
        moved = [k for k in teacher if not torch.equal(teacher[k], state[prefix + k])]
        assert moved, f"{prefix} did not train"
    cfg = OmegaConf.create(checkpoint["hyper_parameters"]["cfg"])
    model = DistributionMatchingDistillation(cfg)
    model.load_state_dict(state)
    assert all(torch.equal(v, teacher[k]) for k, v in model.teacher_decoder.state_dict().items())
    assert not any(p.requires_grad for p in model.teacher_decoder.parameters())


def test_dmd_losses_are_finite_and_the_generator_samples_at_any_step(one_step, teacher_nemo):
    from omegaconf import OmegaConf, open_dict

    from nemo_distill.data.synthetic_shards import SyntheticUtterances, collate
    from nemo_distill.models import DistributionMatchingDistillation

    out, _ = one_step
    cfg = OmegaConf.create(torch.load(next((out / "rounds" / "round_01_dmd_1steps" / "checkpoints").glob(
        "*-last.ckpt")), map_location="cpu", weights_only=False)["hyper_parameters"]["cfg"])
    with open_dict(cfg):
        cfg.dmd.steps = 4
    model = DistributionMatchingDistillation(cfg)
    batch = collate([SyntheticUtterances(str(out / "synthetic"))[i] for i in range(2)])
    x0_teacher, cond, coarse, mask, paired = model._window(batch, None, model.utterance_noise(batch))
    for step in range(4):
        x = model.generate(cond, coarse, mask, torch.randn_like(x0_teacher), step=step, grad=True)
        assert x.shape == x0_teacher.shape and x.requires_grad and torch.all(x[~mask.expand_as(x)] == 0)
    losses = model.generator_loss(x, x0_teacher, cond, coarse, mask, paired)
    assert set(losses) == {"dmd_loss", "regression_loss", "adversarial_loss", "loss"}
    assert all(torch.isfinite(v) for v in losses.values())
    losses["loss"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.decoder.parameters())
    assert all(p.grad is None for p in model.teacher_decoder.parameters())
    fake = model.fake_loss(x, x0_teacher, cond, coarse, mask)
    assert set(fake) == {"fake_loss", "discriminator_loss", "loss"} and torch.isfinite(fake["loss"])


def test_a_rerun_reuses_the_finished_students(one_step, teacher_nemo, corpus):
    from nemo_distill.distillation import run_distillation

    out, paths = one_step
    before = {p: os.path.getmtime(p) for p in paths}
    again = run_distillation(_cfg(teacher_nemo, corpus[1], out, "dmd.adversarial_weight=0.005",
                                  "dmd.regression_weight=0.5", "consistency.enabled=true", "consistency.grid_steps=4",
                                  "consistency.round_steps=3"))
    assert again == paths and {p: os.path.getmtime(p) for p in paths} == before


@pytest.mark.parametrize("recordings", [False, True], ids=["teacher", "recordings"])
def test_an_interrupted_dmd_round_resumes_from_its_checkpoint(teacher_nemo, corpus, tmp_path, monkeypatch, recordings):
    """Killed mid-round, the same command resumes from the last checkpoint; with the GAN on recordings
    (``dmd.adversarial_real=recordings``) the real data made before the kill are reused, not made again."""
    from nemo_distill.distillation import run_distillation
    from nemo_distill.models import DistributionMatchingDistillation

    original = DistributionMatchingDistillation.training_step

    def killed(self, batch, batch_idx):
        if self.global_step == 4:  # after the first epoch's checkpoint
            raise RuntimeError("killed")
        return original(self, batch, batch_idx)

    monkeypatch.setattr(DistributionMatchingDistillation, "training_step", killed)
    real = ["dmd.adversarial_weight=0.05", "dmd.adversarial_real=recordings", f"recordings.manifest={corpus[1]}"]
    cfg = _cfg(teacher_nemo, corpus[1], tmp_path, "dmd.generator_steps=3", *(real if recordings else []))
    with pytest.raises(RuntimeError, match="killed"):
        run_distillation(cfg)
    assert not (tmp_path / "students" / "DMD_1steps_dmd.nemo").exists()
    real_manifest = tmp_path / "recordings" / "manifest.json"
    made = real_manifest.read_bytes() if recordings else None
    monkeypatch.setattr(DistributionMatchingDistillation, "training_step", original)
    resumed_from = []
    monkeypatch.setattr(DistributionMatchingDistillation, "on_fit_start",
                        lambda self: resumed_from.append(self.trainer.ckpt_path), raising=False)
    paths = run_distillation(cfg)
    assert os.path.isfile(paths[0])
    assert len(resumed_from) == 1 and resumed_from[0] and "last" in os.path.basename(resumed_from[0])
    assert (real_manifest.read_bytes() if recordings else None) == made


@pytest.mark.parametrize("override, match", [
    ("dmd.steps=0", "dmd.steps must be >= 1"),
    ("dmd.t_range=[0.5,0.2]", "dmd.t_range must be"),
    ("dmd.init=recordings", "unknown dmd.init"),
    ("dmd.init=student", "needs a progressive round"),
    ("+dmd.fake_update=3", "unknown dmd keys"),
    ("consistency.enabled=true", None),
])
def test_bad_dmd_settings_refused_before_any_work(teacher_nemo, corpus, tmp_path, override, match):
    from nemo_distill.distillation import run_distillation

    overrides = [override] if match else [override, "consistency.grid_steps=1"]
    with pytest.raises(ValueError, match=match or "consistency.grid_steps must be >= 2"):
        run_distillation(_cfg(teacher_nemo, corpus[1], tmp_path / "out", *overrides))
    assert not (tmp_path / "out").exists()


def test_distillation_rows_are_named_by_stage_and_told_apart():
    from nemo_distill.distillation import method_named
    from nemo_distill.eval.tts_benchmark import distillation_systems

    students = {"out/Student_2steps.nemo": 2, "out/Student_1steps.nemo": 1, "a/DMD_1steps_dmd.nemo": 1,
                "b/DMDreg_1steps_dmd.nemo": 1, "out/Student_1steps_consistency.nemo": 1}
    stages = {"out/Student_2steps.nemo": "progressive", "out/Student_1steps.nemo": "progressive",
              "a/DMD_1steps_dmd.nemo": "dmd", "b/DMDreg_1steps_dmd.nemo": "dmd",
              "out/Student_1steps_consistency.nemo": "consistency"}
    methods = {key: method_named(stage) for key, stage in stages.items()}
    systems = distillation_systems(256, students, with_fastpitch=True,
                                   rows={key: m.benchmark_row for key, m in methods.items()},
                                   twice=[key for key, m in methods.items() if m.also_at_twice_steps])
    assert [s.name for s in systems] == [
        "recording", "recording_mel", "fastpitch", "teacher_256", "naive_2", "student_2", "consistency_2", "naive_1",
        "student_1", "dmd_1_DMD", "dmd_1_DMDreg", "consistency_1"]
    assert {s.name: s.role for s in systems}["dmd_1_DMD"] == "dmd"
    consistency = [s for s in systems if s.model == "out/Student_1steps_consistency.nemo"]
    assert [s.steps for s in consistency] == [2, 1]  # a consistency model also sampled in two steps
    with_coarse = distillation_systems(16, {"out/Student_1steps_consistency.nemo": 1}, with_fastpitch=True,
                                       with_coarse=True)
    assert [s.name for s in with_coarse][:5] == ["recording", "recording_mel", "fastpitch", "coarse", "teacher_16"]
