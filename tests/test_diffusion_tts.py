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

"""DiffusionSpectrogramGenerator on a tiny tone corpus: training, generation, masks, guidance, .nemo, bad input."""

import copy
import os

import pytest
import torch

from nemo_distill.diffusion import SamplingOptions


TEXTS = ["hello world.", "a much longer sentence than the first one."]


@pytest.fixture(scope="module")
def make_cfg(corpus):
    from nemo_distill.utils.config import compose_config

    root, manifest = corpus

    def make(*overrides):
        return compose_config("diffusion_tts_tiny", [
            f"train_dataset={manifest}", f"validation_datasets={manifest}", f"sup_data_path={root}/sup",
            "pitch_mean=150", "pitch_std=40", *overrides,
        ])

    return make


def _trainer(tmp_path, max_steps):
    import lightning.pytorch as pl

    return pl.Trainer(max_steps=max_steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=1,
                      num_sanity_val_steps=0, default_root_dir=str(tmp_path))


@pytest.fixture(scope="module")
def trained(make_cfg, tmp_path_factory):
    from nemo_distill.models import DiffusionSpectrogramGenerator

    torch.manual_seed(0)
    trainer = _trainer(tmp_path_factory.mktemp("fit"), 3)
    model = DiffusionSpectrogramGenerator(make_cfg().model, trainer=trainer)
    trainer.fit(model)
    return model.eval(), dict(trainer.callback_metrics)


def test_joint_training_logs_fastpitch_and_diffusion_losses(trained):
    _, metrics = trained
    for key in ("t_loss", "t_mel_loss", "t_diffusion_loss", "val_diffusion_loss", "val_mel_loss"):
        assert key in metrics and torch.isfinite(metrics[key]), key


def test_generate_shapes_lengths_and_padding(trained):
    model, _ = trained
    tokens, _ = model.parse_batch(TEXTS)
    mels, lengths = model.generate_spectrogram(tokens, steps=3, seed=0, return_lengths=True)
    assert mels.shape == (2, 80, int(lengths.max()))
    assert lengths[0] < lengths[1]
    assert torch.all(mels[0, :, lengths[0]:] == torch.log(torch.tensor(1e-5)))
    assert torch.isfinite(mels).all()


def test_batched_decoding_equals_one_by_one(trained):
    # The diffusion decoder is padding-invariant. (NeMo's FastPitch front-end is not exactly: its TemporalPredictor
    # masks only its input, so durations/pitch of a padded batch can differ slightly from one-by-one inference.)
    model, _ = trained
    tokens, _ = model.parse_batch(TEXTS)
    cond, coarse, lengths = model.encode(tokens)
    noise = torch.randn(coarse.shape, generator=torch.Generator().manual_seed(3))
    batched = model.decoder.decode(cond, coarse, lengths, SamplingOptions(steps=3, noise=noise, guidance_scale=0.5))
    for i in range(len(TEXTS)):
        length = int(lengths[i])
        single = model.decoder.decode(cond[i : i + 1, :, :length], coarse[i : i + 1, :, :length], lengths[i : i + 1],
                                      SamplingOptions(steps=3, noise=noise[i : i + 1], guidance_scale=0.5))
        assert single.shape[-1] == length
        assert torch.allclose(batched[i, :, :length], single[0], atol=1e-5)


def test_seed_reproducible_and_steps_matter(trained):
    model, _ = trained
    tokens, _ = model.parse_batch(TEXTS[:1])
    a = model.generate_spectrogram(tokens, steps=4, seed=7)
    assert torch.equal(a, model.generate_spectrogram(tokens, steps=4, seed=7))
    assert not torch.equal(a, model.generate_spectrogram(tokens, steps=4, seed=8))


def test_guidance_uses_unconditional_calls(trained):
    model, _ = trained
    tokens, _ = model.parse_batch(TEXTS[:1])
    calls = []
    handle = model.decoder.denoiser.register_forward_pre_hook(lambda module, args: calls.append(args[2].abs().sum().item()))
    try:
        model.generate_spectrogram(tokens, steps=3, seed=0)
        assert len(calls) == 3
        calls.clear()
        model.generate_spectrogram(tokens, steps=3, seed=0, guidance_scale=1.5)
        assert len(calls) == 6 and sum(c == 0.0 for c in calls) == 3  # one call per step without conditioning
    finally:
        handle.remove()


def test_save_restore_identical(trained, tmp_path):
    from nemo.core.classes import ModelPT

    from nemo_distill.models import DiffusionSpectrogramGenerator

    model, _ = trained
    path = str(tmp_path / "tts.nemo")
    model.save_to(path)
    restored = ModelPT.restore_from(path, map_location="cpu").eval()
    assert isinstance(restored, DiffusionSpectrogramGenerator)
    tokens, _ = model.parse_batch(TEXTS)
    assert torch.equal(model.generate_spectrogram(tokens, steps=2, seed=1),
                       restored.generate_spectrogram(tokens, steps=2, seed=1))


@pytest.mark.parametrize("text,match", [("", "empty text"), ("   ", "empty text"), ("\u4f60\u597d", "no character")])
def test_bad_text(trained, text, match):
    model, _ = trained
    with pytest.raises(ValueError, match=match):
        model.parse_batch([text])


def test_bad_noise_and_sampler(trained):
    model, _ = trained
    tokens, _ = model.parse_batch(TEXTS[:1])
    with pytest.raises(ValueError, match="noise must have shape"):
        model.generate_spectrogram(tokens, steps=2, noise=torch.zeros(1, 80, 1))
    with pytest.raises(ValueError, match="unknown sampler"):
        model.generate_spectrogram(tokens, steps=2, sampler="euler")
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        model.generate_spectrogram(tokens, steps=0)
    with pytest.raises(TypeError, match="step"):  # a misspelt argument is not swallowed
        model.generate_spectrogram(tokens, step=2)
    with pytest.raises(ValueError, match="either as options or as keywords"):
        model.generate_spectrogram(tokens, steps=2, options=SamplingOptions(steps=3))


@pytest.mark.parametrize("override,match", [
    ("model.diffusion.prior=shallow", "unknown diffusion prior"),
    ("model.diffusion.parameterization=score", "unknown parameterization"),
    ("model.diffusion.weighting=p2", "unknown loss weighting"),
    ("model.diffusion.denoiser.n_mels=40", "must equal n_mel_channels"),
])
def test_bad_config(make_cfg, override, match):
    from nemo_distill.models import DiffusionSpectrogramGenerator

    with pytest.raises(ValueError, match=match):
        DiffusionSpectrogramGenerator(make_cfg(override).model)


@pytest.fixture(scope="module")
def fastpitch_nemo(make_cfg, tmp_path_factory):
    """A plain NeMo FastPitch .nemo with this front-end's architecture (and one with other mel settings)."""
    from omegaconf import open_dict

    from nemo.collections.tts.models import FastPitchModel

    paths = {}
    for name, overrides in (("same", ()), ("other_mels", ("model.highfreq=7000",))):
        cfg = make_cfg(*overrides).model
        with open_dict(cfg):
            del cfg.diffusion, cfg.frontend
        path = str(tmp_path_factory.mktemp("fp") / f"{name}.nemo")
        torch.manual_seed(5)
        FastPitchModel(cfg).save_to(path)
        paths[name] = path
    return paths


def _init_from(path):
    from omegaconf import OmegaConf

    return OmegaConf.create({"init_from_nemo_model": path})


def test_frozen_frontend_from_fastpitch_trains_only_the_decoder(make_cfg, fastpitch_nemo, tmp_path):
    from nemo.collections.tts.models import FastPitchModel

    from nemo_distill.models import DiffusionSpectrogramGenerator

    source = FastPitchModel.restore_from(fastpitch_nemo["same"], map_location="cpu")
    trainer = _trainer(tmp_path, 2)
    model = DiffusionSpectrogramGenerator(make_cfg("model.frontend.freeze=true").model, trainer=trainer)
    model.maybe_init_from_pretrained_checkpoint(_init_from(fastpitch_nemo["same"]))  # NeMo's init_from_nemo_model
    encoder_before = copy.deepcopy(model.fastpitch.encoder.state_dict())
    for key, value in encoder_before.items():
        assert torch.equal(value, source.fastpitch.encoder.state_dict()[key]), key
    denoiser_before = copy.deepcopy(model.decoder.denoiser.state_dict())
    trainer.fit(model)
    for key, value in model.fastpitch.encoder.state_dict().items():
        assert torch.equal(value, encoder_before[key]), key
    assert any(not torch.equal(v, denoiser_before[k]) for k, v in model.decoder.denoiser.state_dict().items())


def test_nemo_restores_where_its_init_from_fastpitch_is_gone(make_cfg, fastpitch_nemo, tmp_path):
    import shutil

    from nemo.collections.tts.models import FastPitchModel

    from nemo_distill.models import DiffusionSpectrogramGenerator

    source = str(tmp_path / "fastpitch.nemo")
    shutil.copy(fastpitch_nemo["same"], source)
    with pytest.warns(DeprecationWarning, match="frontend.init_from is deprecated"):  # the old key still works
        model = DiffusionSpectrogramGenerator(make_cfg(f"model.frontend.init_from={source}").model)
    reference = FastPitchModel.restore_from(source, map_location="cpu")
    for key, value in reference.fastpitch.encoder.state_dict().items():
        assert torch.equal(value, model.fastpitch.encoder.state_dict()[key]), key
    model.save_to(str(tmp_path / "voice.nemo"))
    os.remove(source)  # the .nemo is deployed on a machine without the FastPitch it was initialised from
    restored = DiffusionSpectrogramGenerator.from_nemo(str(tmp_path / "voice.nemo"))
    for key, value in model.state_dict().items():
        assert torch.equal(value, restored.state_dict()[key]), key


def test_a_decoder_moved_onto_another_fastpitch_keeps_its_weights_and_takes_the_front_end(trained, fastpitch_nemo,
                                                                                          tmp_path, capsys):
    from nemo.collections.tts.models import FastPitchModel

    from nemo_distill.models import DiffusionSpectrogramGenerator

    from tts_fixtures import load_script

    move = load_script("move_decoder")
    teacher = str(tmp_path / "teacher.nemo")
    trained[0].save_to(teacher)
    out = str(tmp_path / "moved.nemo")
    move.main(["--teacher", teacher, "--fastpitch", fastpitch_nemo["same"], "--out", out])
    moved = DiffusionSpectrogramGenerator.restore_from(out, map_location="cpu").state_dict()
    source = FastPitchModel.restore_from(fastpitch_nemo["same"], map_location="cpu").state_dict()
    ours = trained[0].state_dict()
    assert all(torch.equal(moved[k], source[k]) for k in source)
    assert all(torch.equal(moved[k], ours[k]) for k in ours if k.startswith("decoder."))
    assert any(not torch.equal(ours[k], source[k]) for k in source)  # the front-end did change
    with pytest.raises(SystemExit):  # never over a file
        move.parse_args(["--teacher", teacher, "--fastpitch", fastpitch_nemo["same"], "--out", out])
    assert f"{out} exists" in capsys.readouterr().err
    other = str(tmp_path / "other.nemo")
    with pytest.raises(SystemExit, match="highfreq"):  # another mel configuration: refused, nothing written
        move.main(["--teacher", teacher, "--fastpitch", fastpitch_nemo["other_mels"], "--out", other])
    assert not os.path.exists(other)


def test_frontend_with_other_mel_settings_refused(make_cfg, fastpitch_nemo):
    from nemo_distill.models import DiffusionSpectrogramGenerator

    model = DiffusionSpectrogramGenerator(make_cfg().model)
    with pytest.raises(ValueError, match="highfreq=7000.*mel settings"):
        model.maybe_init_from_pretrained_checkpoint(_init_from(fastpitch_nemo["other_mels"]))


def test_frontend_from_wrong_class_refused(make_cfg, trained, tmp_path):
    from nemo_distill.models import DiffusionSpectrogramGenerator

    model, _ = trained
    path = str(tmp_path / "not_fastpitch.nemo")
    model.save_to(path)
    with pytest.raises(ValueError, match="must be a FastPitch .nemo"):
        DiffusionSpectrogramGenerator(make_cfg().model).maybe_init_from_pretrained_checkpoint(_init_from(path))


def test_export_denoiser_step_matches_model(trained, tmp_path):
    import onnxruntime as ort

    model, _ = trained
    path = str(tmp_path / "step.onnx")
    model.export(path, form="step")
    tokens, _ = model.parse_batch(TEXTS)
    cond, coarse, lengths = model.encode(tokens)
    mask = (torch.arange(coarse.shape[-1])[None] < lengths[:, None])[:, None].float()
    z_t = torch.randn(coarse.shape, generator=torch.Generator().manual_seed(0)) * mask
    log_snr = torch.tensor([-2.0, 3.0])
    prior = model.decoder.prior_input(coarse) * mask
    with torch.no_grad():
        reference = model.decoder.prediction(z_t, log_snr, cond * mask, prior, mask)
    session = ort.InferenceSession(path)
    feeds = dict(zip([i.name for i in session.get_inputs()], (z_t, log_snr, cond * mask, prior, mask)))
    (output,) = session.run(None, {k: v.numpy() for k, v in feeds.items()})
    assert abs(output - reference.numpy()).max() < 1e-4


def test_shallow_diffusion_start(trained):
    model, _ = trained
    tokens, _ = model.parse_batch(TEXTS[:1])
    full = model.generate_spectrogram(tokens, steps=4, seed=0)
    shallow = model.generate_spectrogram(tokens, steps=4, seed=0, t_start=0.3)
    assert shallow.shape == full.shape and not torch.equal(shallow, full)
    # a tiny t_start barely noises the prior: the result stays at the coarse mel (residual x0 is 0 there)
    coarse = model.generate_coarse_spectrogram(tokens)
    nearly_clean = model.generate_spectrogram(tokens, steps=1, seed=0, t_start=1e-3)
    assert (nearly_clean - coarse).abs().max() < 1e-2 * float(model.decoder.residual_scale)  # x0 units: mel / scale
    with pytest.raises(ValueError, match="t_start"):
        model.generate_spectrogram(tokens, steps=2, t_start=0.0)


def test_temperature_scales_the_starting_noise(trained):
    model, _ = trained
    tokens, _ = model.parse_batch(TEXTS[:1])
    cond, coarse, lengths = model.encode(tokens)
    noise = torch.randn(coarse.shape, generator=torch.Generator().manual_seed(3))
    decode = lambda **options: model.decoder.decode(cond, coarse, lengths, SamplingOptions(steps=3, **options))  # noqa
    cooled = decode(noise=noise, temperature=0.5)
    assert torch.allclose(cooled, decode(noise=0.5 * noise, temperature=1.0), atol=1e-6)
    assert not torch.allclose(cooled, decode(noise=noise))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        decode(noise=noise, temperature=0.0)


def test_from_nemo_checks_the_class(trained, tmp_path):
    from nemo_distill.models import DiffusionSpectrogramGenerator, ToyDiffusionModel
    from nemo_distill.utils.config import compose_config

    model, _ = trained
    path = str(tmp_path / "tts.nemo")
    model.save_to(path)
    assert isinstance(DiffusionSpectrogramGenerator.from_nemo(path), DiffusionSpectrogramGenerator)
    toy_path = str(tmp_path / "toy.nemo")
    ToyDiffusionModel(compose_config("toy_diffusion").model).save_to(toy_path)
    with pytest.raises(ValueError, match="holds a ToyDiffusionModel, not a DiffusionSpectrogramGenerator"):
        DiffusionSpectrogramGenerator.from_nemo(toy_path)


def test_nonfinite_loss_stops_training_and_keeps_the_last_good_weights(make_cfg, tmp_path):
    from nemo_distill.models import DiffusionSpectrogramGenerator

    torch.manual_seed(0)
    trainer = _trainer(tmp_path, 6)
    model = DiffusionSpectrogramGenerator(make_cfg().model, trainer=trainer)
    real_loss, snapshots = model._diffusion_loss, []

    def poisoned_loss(taps, generator=None):
        if model.training:
            snapshots.append(copy.deepcopy(model.state_dict()))
            if len(snapshots) == 3:  # the third training batch gives a NaN loss
                return real_loss(taps, generator) * float("nan")
        return real_loss(taps, generator)

    model._diffusion_loss = poisoned_loss
    trainer.fit(model)
    assert model.nonfinite_loss_step == 2 and len(snapshots) == 3  # stopped: no batch after the bad one
    for key, value in model.state_dict().items():  # the NaN step was not applied
        if key != "decoder.residual_scale":  # a running data statistic (its batch was finite), not a weight
            assert torch.equal(value, snapshots[-1][key]), key
    assert any(not torch.equal(v, snapshots[0][k]) for k, v in model.state_dict().items())


def _benchmark_script():
    from tts_fixtures import load_benchmark_script

    return load_benchmark_script()


def test_benchmark_script_rows_and_outputs(trained, corpus, fastpitch_nemo, voice, tmp_path):
    model, _ = trained
    root, manifest = corpus
    path = str(tmp_path / "tts.nemo")
    model.save_to(path)
    out = tmp_path / "bench"
    results = _benchmark_script().main([
        path, "--manifest", manifest, "--sup-data-path", f"{root}/sup", "--steps", "4", "2", "--samplers", "ddim",
        "dpmpp_2m", "--fastpitch", fastpitch_nemo["same"], "--no-wer", "--out-dir", str(out),
        "--no-dnsmos", "--vocoder", voice[2]["vocoder"],  # the tiny HiFi-GAN: the wiring, not the voice
    ])
    assert list(results) == ["recording", "recording_mel", "fastpitch", "coarse", "ddim_4", "ddim_2", "dpmpp_2m_4",
                             "dpmpp_2m_2"]
    for name, result in results.items():
        if result["kind"] == "diffusion":  # counted with a hook on the denoiser, per utterance
            assert result["denoiser_calls"] == result["steps"], name
        if result["kind"] not in ("recording", "recording_mel"):
            assert result["mel_l1"] > 0 and result["mel_fd"] > 0 and result["ms_per_utt"] > 0, name
    assert results["coarse"]["denoiser_calls"] == 0 and results["fastpitch"]["denoiser_calls"] == 0
    assert results["ddim_4"]["mel_l1"] != results["ddim_2"]["mel_l1"]
    table = (out / "table.md").read_text()
    assert "| dpmpp_2m_2 | 2 |" in table and "mel FD" in table
    assert (out / "table.csv").read_text().count("\n") == 9 and (out / "benchmark.png").stat().st_size > 0
    assert sorted(p.name for p in (out / "audio" / "ddim_2").iterdir()) == [f"0{i}_hifigan.wav" for i in range(3)]


def test_benchmark_word_error_rate_columns(trained):
    from nemo_distill.eval.tts_benchmark import System, format_table, run_benchmark

    class EchoFirstWord:  # a stand-in recogniser: hears "hello" in everything
        def transcribe(self, audio, sample_rate):
            assert audio.ndim == 1 and sample_rate == 22050
            return "hello"

    model, _ = trained
    rows = [{"text": "hello world.", "audio_filepath": None}, {"text": "hello", "audio_filepath": None}]
    dataloader = model._validation_dl
    systems = [System("recording", "recording"), System("ddim_1", "diffusion", 1, "ddim")]
    results = run_benchmark(model, dataloader, rows, systems, {"griffin_lim": lambda mel: mel.mean(0)},
                            judge=EchoFirstWord(), load_audio=lambda path: torch.zeros(22050).numpy())
    # "hello world." vs "hello": 1 deletion in 3 reference words
    assert results["ddim_1"]["wer"] == {"griffin_lim": pytest.approx(1 / 3)}
    assert results["recording"]["wer"] == {"recording": pytest.approx(1 / 3)}
    assert "| recording | - | - | - | 0.333 |" in format_table(results)


def test_auto_residual_scale_tracks_the_residual_rms(make_cfg):
    from nemo_distill.models import DiffusionSpectrogramGenerator

    model = DiffusionSpectrogramGenerator(make_cfg().model).train()
    assert model.decoder.auto_residual_scale and float(model.decoder.residual_scale) == 1.0
    coarse = torch.randn(2, 80, 10)
    mask = torch.ones(2, 1, 10, dtype=torch.bool)
    mask[1, :, 6:] = False
    residual = torch.full_like(coarse, 0.3)
    residual[1, :, 6:] = 100.0  # padding must not count
    model.decoder.update_residual_scale(coarse + residual, coarse, mask)
    assert float(model.decoder.residual_scale) == pytest.approx(0.3, rel=1e-5)  # the first batch sets it
    model.decoder.update_residual_scale(coarse + 0.5, coarse, mask)
    assert float(model.decoder.residual_scale) == pytest.approx(0.99 * 0.3 + 0.01 * 0.5, rel=1e-5)
    x0 = model.decoder.x0_from_mel(coarse + 0.3, coarse)
    assert torch.allclose(model.decoder.mel_from_x0(x0, coarse), coarse + 0.3, atol=1e-6)
    model.eval().decoder.update_residual_scale(coarse + 5.0, coarse, mask)  # inference never changes it
    assert float(model.decoder.residual_scale) == pytest.approx(0.99 * 0.3 + 0.01 * 0.5, rel=1e-5)
    assert "decoder.residual_scale" in model.state_dict()  # travels with the weights into .nemo and students


def test_fixed_residual_scale_is_not_estimated(make_cfg):
    from nemo_distill.models import DiffusionSpectrogramGenerator

    model = DiffusionSpectrogramGenerator(make_cfg("model.diffusion.residual_scale=0.5").model).train()
    coarse = torch.zeros(1, 80, 4)
    model.decoder.update_residual_scale(coarse + 3.0, coarse, torch.ones(1, 1, 4, dtype=torch.bool))
    assert float(model.decoder.residual_scale) == 0.5
    assert torch.allclose(model.decoder.x0_from_mel(coarse + 1.0, coarse), torch.full_like(coarse, 2.0))
