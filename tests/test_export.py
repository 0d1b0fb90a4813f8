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

"""ONNX export of one denoiser step: onnxruntime matches PyTorch for any batch size and length."""

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import onnxruntime as ort

    import nemo_distill  # noqa: F401
    from nemo_distill.modules.mel_denoiser import MelDenoiser

    torch.manual_seed(0)
    denoiser = MelDenoiser(n_mels=80, cond_channels=64, channels=32, num_blocks=4, dilation_cycle=2).eval()
    torch.nn.init.normal_(denoiser.output[-1].weight, std=0.1)  # the output layer starts at zero: make it count
    path = str(tmp_path_factory.mktemp("onnx") / "denoiser.onnx")
    denoiser.export(path, check_trace=False)
    return denoiser, ort.InferenceSession(path)


def test_io_names_and_dynamic_axes(exported):
    _, session = exported
    assert [i.name for i in session.get_inputs()] == ["z_t", "log_snr", "cond", "prior", "mask"]
    z_t_shape = session.get_inputs()[0].shape
    assert isinstance(z_t_shape[0], str) and z_t_shape[1] == 80 and isinstance(z_t_shape[2], str)


@pytest.mark.parametrize("batch,frames", [(2, 37), (1, 5), (3, 211)])
def test_onnxruntime_matches_pytorch(exported, batch, frames):
    denoiser, session = exported
    example = denoiser.input_example(batch, frames)
    with torch.no_grad():
        reference = denoiser(*example).numpy()
    (output,) = session.run(None, {i.name: x.numpy() for i, x in zip(session.get_inputs(), example)})
    assert output.shape == reference.shape
    assert np.abs(reference).max() > 1e-3  # not a trivially-zero comparison
    assert np.abs(output - reference).max() < 1e-4
