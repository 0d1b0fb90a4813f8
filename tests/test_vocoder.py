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

"""The voice's HiFi-GAN: NeMo's HifiGanModel with exactly the generator's mel settings."""

import pytest
import torch



@pytest.fixture(scope="module")
def configs(corpus):
    from nemo_distill.utils.config import compose_config

    root, manifest = corpus
    generator = compose_config("diffusion_tts_tiny", [f"train_dataset={manifest}", f"validation_datasets={manifest}",
                                                      f"sup_data_path={root}/sup", "pitch_mean=150", "pitch_std=40"])
    vocoder = compose_config("hifigan_tiny", [f"train_dataset={manifest}", f"validation_datasets={manifest}"])
    return generator, vocoder


def test_vocoder_preprocessor_computes_the_generators_mels(configs, corpus):
    import soundfile as sf

    from nemo.core.classes.common import safe_instantiate

    generator_cfg, vocoder_cfg = configs
    audio, _ = sf.read(f"{corpus[0]}/wavs/tone_1.wav", dtype="float32")
    audio = torch.from_numpy(audio)[None]
    length = torch.tensor([audio.shape[1]])
    ours, ours_len = safe_instantiate(generator_cfg.model.preprocessor)(input_signal=audio, length=length)
    theirs, theirs_len = safe_instantiate(vocoder_cfg.model.preprocessor)(audio, length)
    assert ours.shape == theirs.shape and torch.equal(ours_len, theirs_len)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_mel_settings_mismatch_names_the_settings(configs):
    from omegaconf import open_dict

    from nemo_distill.parts.mel_settings import check_mel_settings_match

    generator_cfg, vocoder_cfg = configs
    check_mel_settings_match(generator_cfg.model, vocoder_cfg.model)  # the shipped pair matches
    stock = vocoder_cfg.model.copy()
    with open_dict(stock):  # NeMo's stock HiFi-GAN mel settings
        stock.preprocessor.pad_value = -11.52
        stock.preprocessor.log_zero_guard_type = "clamp"
    with pytest.raises(ValueError, match=r"log_zero_guard_type: generator 'add', vocoder 'clamp'.*pad_value"):
        check_mel_settings_match(generator_cfg.model, stock)
    with open_dict(stock):
        stock.preprocessor.highfreq = None  # None means Nyquist
    with pytest.raises(ValueError, match=r"highfreq: generator 8000, vocoder 11025"):
        check_mel_settings_match(generator_cfg.model, stock)


@pytest.fixture(scope="module")
def vocoder_nemo(corpus, tmp_path_factory):
    """Two steps of scripts/train_vocoder.py's main (exp_manager, NeMo's HifiGanModel) with the tiny config, in this
    process, on the config its hydra_runner would compose."""
    from nemo_distill.utils.config import compose_config
    from tts_fixtures import load_script

    root, manifest = corpus
    out = tmp_path_factory.mktemp("vocoder")
    load_script("train_vocoder").main(compose_config("hifigan_tiny", [
        f"train_dataset={manifest}", f"validation_datasets={manifest}", f"exp_manager.exp_dir={out}",
        "exp_manager.name=voc", "+exp_manager.version=v", "trainer.max_steps=2",
        "model.train_ds.dataloader_params.batch_size=2", "+trainer.limit_val_batches=1",
        "+trainer.num_sanity_val_steps=0", "+trainer.enable_progress_bar=false"]))
    path = out / "voc" / "v" / "HifiGanTiny.nemo"
    assert path.is_file()
    return str(path)


def test_trained_vocoder_restores_and_turns_mels_into_audio(vocoder_nemo, configs):
    from nemo.collections.tts.models import HifiGanModel
    from nemo_distill.parts.mel_settings import check_mel_settings_match
    from nemo_distill.parts.restore import restore_model

    vocoder = restore_model(vocoder_nemo, HifiGanModel)
    check_mel_settings_match(configs[0].model, vocoder.cfg)
    with torch.no_grad():
        audio = vocoder.convert_spectrogram_to_audio(spec=torch.randn(2, 80, 20) - 5)
    assert audio.shape == (2, 19 * 256) and torch.isfinite(audio).all()


def test_restoring_a_vocoder_refuses_another_class(tmp_path):
    from nemo.collections.tts.models import HifiGanModel
    from nemo_distill.models import ToyDiffusionModel
    from nemo_distill.parts.restore import restore_model
    from nemo_distill.utils.config import compose_config

    path = str(tmp_path / "toy.nemo")
    ToyDiffusionModel(compose_config("toy_diffusion").model).save_to(path)
    with pytest.raises(TypeError, match="holds a ToyDiffusionModel, not a HifiGanModel"):
        restore_model(path, HifiGanModel)
