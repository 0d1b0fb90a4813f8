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

"""The registry of distillation methods: a new method is one model class and one registry line.

A demonstration method defined here (not shipped): ``sample_denoising``, a branch from the teacher whose student is
trained by plain denoising on the teacher's own samples (the shards). Registered with one line, it runs through
``scripts/distill.py`` end to end on the tiny teacher: plan, folder identity, round folder, student file, lineage,
rerun.
"""

import os
import sys

import pytest
import torch


def _sample_denoising_model_class():
    from nemo_distill.diffusion import guidance_folding_loss
    from nemo_distill.models.shard_distillation import DecoderDistillationModel

    class SampleDenoisingModel(DecoderDistillationModel):
        """A demonstration method: denoising on the teacher's samples (at any noise level the student's x0 learns
        the shard's sample it was noised from)."""

        def __init__(self, cfg, trainer=None):
            super().__init__(cfg=cfg, trainer=trainer)
            self.teacher_steps, self.student_steps = int(cfg.teacher_steps), int(cfg.sample_denoising.steps)

        @classmethod
        def check_section(cls, section, plan_has_ladder=True):
            if int(section.get("steps", 1)) < 1:
                raise ValueError(f"sample_denoising.steps must be >= 1, got {section.get('steps')}")

        def distillation_loss(self, batch):
            x0, cond, coarse, mask = self._window(batch)
            return guidance_folding_loss(self.x0_function(self.decoder, cond, coarse, mask), lambda z_t, log_snr: x0,
                                         x0, self.decoder.settings.schedule, mask=mask, **self.loss_settings())

    return SampleDenoisingModel


@pytest.fixture
def sample_denoising():
    from nemo_distill.distillation.methods import METHODS, DistillationMethod, register_method

    # the one registry line of the new method
    method = register_method(DistillationMethod("sample_denoising", _sample_denoising_model_class(), "branch",
                                                "steps_denoised", "sample_denoising", "enabled"))
    yield method
    del METHODS[method.name]


def test_a_method_registered_in_one_line_runs_through_distill_py(sample_denoising, teacher_nemo, corpus, tmp_path,
                                                                  monkeypatch):
    from tts_fixtures import load_script

    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.utils.files import sha256_file

    out = tmp_path / "out"
    from nemo_distill.utils.config import CONF_DIR

    argv = ["distill.py", f"--config-path={CONF_DIR}", "--config-name=distillation_tiny", f"teacher={teacher_nemo}",
            f"texts={corpus[1]}", f"out_dir={out}", "exp_manager.create_tensorboard_logger=false",
            "plan.student_steps=8", "+sample_denoising.enabled=true", "+sample_denoising.steps=2"]
    monkeypatch.setattr(sys, "argv", argv)
    load_script("distill").main()
    student_path = out / "students" / "Student_2steps_denoised.nemo"
    assert sorted(os.listdir(out / "students")) == [student_path.name]
    assert (out / "rounds" / "round_01_sample_denoising_2steps" / "checkpoints").is_dir()
    student = DiffusionSpectrogramGenerator.from_nemo(str(student_path))
    lineage = student.cfg.distillation
    assert lineage.stage == "sample_denoising" and lineage.steps == 2 and student.cfg.diffusion.default_steps == 2
    assert lineage.teacher_sha256 == sha256_file(teacher_nemo)
    teacher = DiffusionSpectrogramGenerator.from_nemo(teacher_nemo)
    t_state, s_state = teacher.state_dict(), student.state_dict()
    assert any(not torch.equal(t_state[k], s_state[k]) for k in t_state if k.startswith("decoder."))
    # a rerun reuses the student; another step count is another round and student on the same shards
    before = sha256_file(str(student_path))
    load_script("distill").main()
    assert sha256_file(str(student_path)) == before
    monkeypatch.setattr(sys, "argv", argv[:-1] + ["+sample_denoising.steps=4"])
    load_script("distill").main()
    assert sorted(os.listdir(out / "students")) == ["Student_2steps_denoised.nemo", "Student_4steps_denoised.nemo"]
    assert sha256_file(str(student_path)) == before


def test_an_unregistered_method_section_is_refused_before_any_work(teacher_nemo, corpus, tmp_path):
    from nemo_distill.distillation import run_distillation
    from nemo_distill.utils.config import compose_config

    cfg = compose_config("distillation_tiny", [f"teacher={teacher_nemo}", f"texts={corpus[1]}",
                                               f"out_dir={tmp_path / 'out'}", "+sample_denoising.enabled=true"])
    with pytest.raises(ValueError, match="sample_denoising.enabled is set, but no distillation method is named"):
        run_distillation(cfg)
    assert not (tmp_path / "out").exists()


def test_the_registry_refuses_a_second_method_of_a_name_or_a_second_ladder():
    from nemo_distill.distillation.methods import DistillationMethod, ladder_method, register_method

    ladder = ladder_method()
    with pytest.raises(ValueError, match="registered already"):
        register_method(DistillationMethod(ladder.name, ladder.model_class, "branch", "x", "x"))
    with pytest.raises(ValueError, match="the ladder has its method already"):
        register_method(DistillationMethod("another_ladder", ladder.model_class, "ladder", "x", "x"))
    with pytest.raises(ValueError, match="unknown place"):
        DistillationMethod("somewhere", ladder.model_class, "sideways", "x", "x")


def test_the_former_config_name_still_composes_with_a_deprecation_warning():
    from nemo_distill.utils.config import compose_config

    with pytest.warns(DeprecationWarning, match="'progressive_distillation_tiny' is deprecated: it is now "
                                                 "'distillation_tiny'"):
        old = compose_config("progressive_distillation_tiny", ["teacher=t", "texts=x", "out_dir=o"])
    assert old == compose_config("distillation_tiny", ["teacher=t", "texts=x", "out_dir=o"])
