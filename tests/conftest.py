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

import math
import os
import sys

import pytest
import torch

import duration_guard

# the corpus builders are not installed: they live beside the scripts (scripts/corpus_builders/), where the tests
# import them from
sys.path.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))

# Two shared cores: one intra-op thread per test process avoids oversubscription (torch threads wait on each other);
# make test runs two such processes (pytest-xdist workers), one per core. The scripts, notebook kernels and workers
# the tests start take the same count (OpenMP's variable for torch, NEMO_DISTILL_THREADS for the notebooks): two
# threads each beside a busy worker ran a notebook 4x slower.
THREADS = os.environ.get("NEMO_DISTILL_TEST_THREADS", "1")
torch.set_num_threads(int(THREADS))
os.environ.update(OMP_NUM_THREADS=THREADS, NEMO_DISTILL_THREADS=THREADS)

# Files by cost, the heaviest first: make test hands whole files to its two workers (--dist loadfile: a file's
# fixtures are built once, on one worker) in collection order, so the long ones start first and the short ones fill
# the gaps. (xdist 3.8's --dist loadgroup does not group under pytest 9: it renames a node attribute pytest 9 no
# longer reads.)
HEAVY_FILES_FIRST = (
    "test_tutorials.py", "test_tutorial_digits.py", "test_deploy.py", "test_pretrained_vocoder.py",
    "test_progressive_distillation.py", "test_serving.py", "test_layer_distillation.py", "test_diffusion_tts.py", "test_toy_distillation.py",
    "test_vocoder.py", "test_guided_baseline.py", "test_classifier_guided.py", "test_one_step_distillation.py",
)


def pytest_configure(config):
    duration_guard.install(config)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's own order is kept

VOICE_STEPS = 4

# one conversion of the pretrained HiFi-GAN for the whole suite: its subprocesses (a fresh venv, notebook kernels)
# read the same cache instead of converting into their own prefix
from nemo_distill.parts.pretrained_hifigan import default_cache_dir  # noqa: E402

os.environ.setdefault("NEMO_DISTILL_CACHE_DIR", default_cache_dir())


@pytest.fixture
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """The tiny tone corpus of ``tts_fixtures`` as ``(root, manifest)``, shared by every TTS test (its pitch cache,
    ``root/sup``, is computed once)."""
    from tts_fixtures import write_tone_corpus

    root = str(tmp_path_factory.mktemp("tones"))
    return root, write_tone_corpus(root)


@pytest.fixture(scope="session")
def digit_corpus(tmp_path_factory):
    """A spoken-digit corpus of espeak-ng clips, one rendition of each digit per split, as its folder."""
    from corpus_builders.digits import build_digit_corpus

    root = tmp_path_factory.mktemp("digit_corpus")
    build_digit_corpus(root, per_digit=3, engines=("espeak",), splits=(1, 1, 1), seed=0, progress=False)
    return root


TINY_CLASSIFIER = ["model.classifier.channels=[8,16]", "model.classifier.embedding_dim=16",
                   "model.train_ds.batch_size=10", "model.validation_ds.batch_size=10"]


@pytest.fixture(scope="session")
def classifier_nemo(digit_corpus, tmp_path_factory):
    """An untrained tiny ``NoisyClassifierModel`` ``.nemo`` on ``digit_corpus`` (a generator backbone/guide)."""
    from nemo_distill.models import NoisyClassifierModel
    from nemo_distill.utils.config import compose_config

    cfg = compose_config("noisy_classifier", [f"train_dataset={digit_corpus}/train_manifest.json",
                                              f"validation_datasets={digit_corpus}/val_manifest.json",
                                              *TINY_CLASSIFIER])
    torch.manual_seed(0)
    path = str(tmp_path_factory.mktemp("classifier") / "classifier.nemo")
    NoisyClassifierModel(cfg.model).save_to(path)
    return path


@pytest.fixture(scope="session")
def voice(corpus, tmp_path_factory):
    """A tiny untrained generator dressed as a 4-step distilled student, a tiny HiFi-GAN, and their ``.nemo`` files
    (the deployment and serving tests)."""
    from omegaconf import open_dict

    from nemo.collections.tts.models import HifiGanModel
    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.utils.config import compose_config

    root, manifest = corpus
    data = [f"train_dataset={manifest}", f"validation_datasets={manifest}"]
    cfg = compose_config("diffusion_tts_tiny", [*data, f"sup_data_path={root}/sup", "pitch_mean=150",
                                                "pitch_std=40"]).model
    with open_dict(cfg):
        cfg.diffusion.default_steps = VOICE_STEPS
        cfg.distillation = {"stage": "progressive", "round": 6, "teacher_steps": 2 * VOICE_STEPS, "steps": VOICE_STEPS,
                            "weighting": "snr_trunc", "origin_teacher_sha256": "ab" * 32}
    torch.manual_seed(0)
    generator = DiffusionSpectrogramGenerator(cfg)
    last = [m for m in generator.fastpitch.duration_predictor.modules() if isinstance(m, torch.nn.Linear)][-1]
    torch.nn.init.constant_(last.bias, math.log(4.0))  # ~4 frames per token, so utterances are not empty
    torch.nn.init.zeros_(last.weight)
    for p in generator.decoder.denoiser.output[-1].parameters():  # the output layer starts at zero: make it count
        torch.nn.init.normal_(p, std=0.05)
    vocoder = HifiGanModel(compose_config("hifigan_tiny", data).model)
    folder = tmp_path_factory.mktemp("voice")
    paths = {"generator": str(folder / "student.nemo"), "vocoder": str(folder / "hifigan.nemo")}
    generator.save_to(paths["generator"])
    vocoder.save_to(paths["vocoder"])
    return generator.eval(), vocoder.eval(), paths


@pytest.fixture(scope="session")
def teacher_nemo(corpus, tmp_path_factory):
    """An untrained tiny teacher whose duration predictor says ~3 frames per token (so utterances are not empty)."""
    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.utils.config import compose_config

    root, manifest = corpus
    cfg = compose_config("diffusion_tts_tiny", [f"train_dataset={manifest}", f"validation_datasets={manifest}",
                                                f"sup_data_path={root}/sup", "pitch_mean=150", "pitch_std=40"])
    torch.manual_seed(0)
    model = DiffusionSpectrogramGenerator(cfg.model)
    last = [m for m in model.fastpitch.duration_predictor.modules() if isinstance(m, torch.nn.Linear)][-1]
    torch.nn.init.constant_(last.bias, math.log(4.0))
    torch.nn.init.zeros_(last.weight)
    for p in model.decoder.denoiser.output[-1].parameters():  # a teacher that is not the identity
        torch.nn.init.normal_(p, std=0.05)
    path = str(tmp_path_factory.mktemp("teacher") / "teacher.nemo")
    model.save_to(path)
    return path
