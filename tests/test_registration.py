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

"""Importing nemo_distill lets NeMo 3.0 restore this package's models, and nothing else."""

import os
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_diffusion_core_does_not_import_nemo():
    result = _run_python("import sys, nemo_distill, nemo_distill.diffusion; print('nemo' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_registration_when_nemo_is_imported_first():
    code = (
        "from nemo.core.classes import common\n"
        "assert 'nemo_distill.' not in common.ALLOWED_TARGET_PREFIXES\n"
        "import nemo_distill\n"
        "print(common.ALLOWED_TARGET_PREFIXES.count('nemo_distill.'))\n"
    )
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "1"


@pytest.fixture(scope="module")
def nemo_common():
    import nemo_distill  # noqa: F401
    from nemo.core.classes import common

    return common


@pytest.fixture(scope="module")
def toy_cfg():
    cfg = OmegaConf.load(os.path.join(REPO, "conf", "toy_diffusion.yaml")).model
    cfg.train_ds.num_samples = 1024
    cfg.validation_ds.num_samples = 256
    return cfg


@pytest.fixture(scope="module")
def saved_model(toy_cfg, tmp_path_factory):
    from nemo_distill.models import ToyDiffusionModel

    torch.manual_seed(0)
    model = ToyDiffusionModel(toy_cfg).eval()
    path = str(tmp_path_factory.mktemp("nemo") / "toy.nemo")
    model.save_to(path)
    return model, path


def test_only_own_prefix_added(nemo_common):
    assert nemo_common.ALLOWED_TARGET_PREFIXES.count("nemo_distill.") == 1
    assert nemo_common._is_target_allowed("nemo_distill.modules.toy_mlp.ToyMLPDenoiser")
    for target in ("os.system", "nemo_distillery.evil.Thing", "subprocess.Popen", "builtins.eval"):
        assert not nemo_common._is_target_allowed(target), target


@pytest.mark.parametrize("restore_with", ["ModelPT", "ToyDiffusionModel"])
def test_save_restore_identical(saved_model, restore_with):
    from nemo.core.classes import ModelPT

    from nemo_distill.models import ToyDiffusionModel

    model, path = saved_model
    cls = {"ModelPT": ModelPT, "ToyDiffusionModel": ToyDiffusionModel}[restore_with]
    restored = cls.restore_from(path, map_location="cpu").eval()
    assert type(restored) is ToyDiffusionModel
    assert restored.cfg.denoiser._target_ == "nemo_distill.modules.toy_mlp.ToyMLPDenoiser"
    for (name, a), (_, b) in zip(model.state_dict().items(), restored.state_dict().items()):
        assert torch.equal(a, b), name
    assert torch.equal(model.generate(32, steps=8, seed=5), restored.generate(32, steps=8, seed=5))


def test_restore_fails_without_registration(saved_model, nemo_common):
    from nemo.core.classes import ModelPT

    _, path = saved_model
    nemo_common.ALLOWED_TARGET_PREFIXES.remove("nemo_distill.")
    try:
        with pytest.raises(nemo_common.UnsafeTargetError):
            ModelPT.restore_from(path, map_location="cpu")
    finally:
        nemo_common.ALLOWED_TARGET_PREFIXES.append("nemo_distill.")


def test_unsafe_submodule_target_refused(toy_cfg, nemo_common):
    from nemo_distill.models import ToyDiffusionModel

    cfg = toy_cfg.copy()
    cfg.denoiser = {"_target_": "os.system", "command": "echo pwned"}
    with pytest.raises(nemo_common.UnsafeTargetError, match="os.system"):
        ToyDiffusionModel(cfg)


@pytest.mark.parametrize("key,value,match", [
    ("parameterization", "score", "unknown parameterization"),
    ("weighting", "p2", "unknown loss weighting"),
    ("sampler", "euler", "unknown sampler"),
])
def test_bad_diffusion_config(toy_cfg, key, value, match):
    from nemo_distill.models import ToyDiffusionModel

    cfg = toy_cfg.copy()
    cfg.diffusion[key] = value
    with pytest.raises(ValueError, match=match):
        ToyDiffusionModel(cfg)


def test_trains_with_lightning(toy_cfg, tmp_path):
    import lightning.pytorch as pl

    from nemo_distill.models import ToyDiffusionModel

    torch.manual_seed(0)
    model = ToyDiffusionModel(toy_cfg)
    model.setup_training_data(toy_cfg.train_ds)
    batch = (model._train_dl.dataset.tensors[0][:512],)

    def fixed_loss():
        torch.manual_seed(1)
        with torch.no_grad():
            return model._denoising_loss(batch[0]).item()

    before = fixed_loss()
    trainer = pl.Trainer(max_steps=200, accelerator="cpu", logger=False, enable_checkpointing=False, limit_val_batches=0,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path))
    model.set_trainer(trainer)
    trainer.fit(model)
    assert fixed_loss() < 0.8 * before
