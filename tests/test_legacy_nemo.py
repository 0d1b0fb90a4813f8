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

"""``.nemo`` files written before the decoder became one unit (``tests/fixtures``, made by the code of 1650bc7 with
``tests/fixtures/make_legacy_fixtures.py``) restore and sample as they did then: the same values up to float
rounding. Exact equality held on the machine that recorded them but not on every CPU: on an AVX-512/AMX Xeon the
same code and thread count differ from the recording by 7.2e-7 (TTS, log-mel ~10) and 3.8e-6 (guided, its class
gradient summed in another order); a restore that loses or renames a weight or buffer moves them by far more."""

import os
import sys
import warnings

import pytest
import torch

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
ATOL = 1e-4  # float rounding between CPU instruction sets (see above), far below what a wrong weight changes


def _assert_same(actual, expected, name):
    difference = float((actual - expected).abs().max())
    assert actual.shape == expected.shape and difference < ATOL, f"{name}: max abs difference {difference:.3g}"


@pytest.fixture(scope="module")
def legacy():
    """The fixture module and the recorded outputs, on one torch thread as they were recorded (the thread count
    changes float sums by ~1e-7, which an exact comparison would see)."""
    sys.path.insert(0, FIXTURES)
    import make_legacy_fixtures

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield make_legacy_fixtures, torch.load(os.path.join(FIXTURES, "legacy_outputs.pt"))
    torch.set_num_threads(threads)


def test_legacy_tts_nemo_restores_and_samples_identically(legacy):
    from nemo_distill.models import DiffusionSpectrogramGenerator

    fixtures, expected = legacy
    model = DiffusionSpectrogramGenerator.from_nemo(os.path.join(FIXTURES, "legacy_tts.nemo"))
    assert float(model.decoder.residual_scale) == pytest.approx(0.7)  # the old top-level buffer, renamed
    assert not any(key.startswith("mel_denoiser.") for key in model.state_dict())
    outputs = fixtures.tts_outputs(model)
    assert torch.equal(outputs["tokens"], expected["tts"]["tokens"])
    for name in ("ddim_4", "dpmpp_3_cfg", "ddpm_3_temp"):
        _assert_same(outputs[name], expected["tts"][name], name)


def test_legacy_tts_nemo_saves_in_the_new_layout(legacy, tmp_path):
    from nemo_distill.models import DiffusionSpectrogramGenerator

    fixtures, expected = legacy
    model = DiffusionSpectrogramGenerator.from_nemo(os.path.join(FIXTURES, "legacy_tts.nemo"))
    model.save_to(str(tmp_path / "resaved.nemo"))
    resaved = DiffusionSpectrogramGenerator.from_nemo(str(tmp_path / "resaved.nemo"))
    assert "decoder.residual_scale" in resaved.state_dict()
    _assert_same(fixtures.tts_outputs(resaved)["ddim_4"], expected["tts"]["ddim_4"], "ddim_4 after resaving")


def test_legacy_guided_nemo_reads_the_deprecated_prediction_key(legacy):
    from nemo_distill.models import ClassifierGuidedGenerator

    fixtures, expected = legacy
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ClassifierGuidedGenerator.restore_from(os.path.join(FIXTURES, "legacy_guided.nemo")).eval()
    assert any("diffusion.prediction is deprecated" in str(w.message) for w in caught)
    assert model.parameterization == "v"
    outputs = fixtures.guided_outputs(model)
    for name in ("guided_4", "uncond_3"):
        _assert_same(outputs[name], expected["guided"][name], name)
