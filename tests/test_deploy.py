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

"""Deployment: the exported graphs, the Triton repository (configs checked against Triton's own schema), the
torch-free client, parity with PyTorch, and the refusals."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import wave

import numpy as np
import pytest
import torch

TEXTS = ["Hello world.", "a much longer sentence than the first one, with more words."]
STEPS = 4  # the step count of conftest's ``voice``


def _load_client():
    from nemo_distill.runtime import onnx_client

    return onnx_client


@pytest.fixture(scope="module")
def repo(voice, tmp_path_factory):
    """``scripts/export.py``'s ``main`` end to end on the two ``.nemo`` files, in this process (the installed
    ``nemo-distill-export`` runs as its own process in the wheel test)."""
    from nemo_distill.cli.export import main

    _, _, paths = voice
    out = str(tmp_path_factory.mktemp("deploy") / "repo")
    assert main([paths["generator"], out, "--vocoder", paths["vocoder"], "--include-step"]) == 0
    return out


@pytest.fixture(scope="module")
def client():
    return _load_client()


# ------------------------------------------------------------------------------------------------ the graphs
def test_unrolled_sampler_and_frontend_match_pytorch(voice, tmp_path):
    import onnxruntime as ort

    generator, _, _ = voice
    generator.export(str(tmp_path / "frontend.onnx"), form="frontend")
    generator.export(str(tmp_path / "sampler.onnx"), form="sampler")  # K = the student's own 4
    frontend = ort.InferenceSession(str(tmp_path / "frontend.onnx"))
    sampler = ort.InferenceSession(str(tmp_path / "sampler.onnx"))
    assert [i.name for i in sampler.get_inputs()] == ["cond", "coarse_mel", "mel_lens", "noise"]
    for texts in (TEXTS, TEXTS[:1], TEXTS[::-1] + ["third one"]):  # batch and lengths unlike the trace example
        tokens, _ = generator.parse_batch(texts)
        noise = torch.randn(len(texts), 80, tokens.shape[1] * 75, generator=torch.Generator().manual_seed(1))
        reference, lengths = generator.generate_spectrogram(tokens, noise=noise, return_lengths=True)
        cond, coarse_mel, mel_lens = frontend.run(None, {"tokens": tokens.numpy()})
        np.testing.assert_array_equal(mel_lens, lengths.numpy())
        (mel,) = sampler.run(None, {"cond": cond, "coarse_mel": coarse_mel, "mel_lens": mel_lens,
                                    "noise": noise.numpy()})
        assert mel.shape == tuple(reference.shape)
        assert np.abs(mel - reference.numpy()).max() < 1e-3
    # the steps are really unrolled: a 2-step graph gives another mel
    generator.export(str(tmp_path / "sampler2.onnx"), form="sampler", steps=2, allow_step_mismatch=True)
    (mel2,) = ort.InferenceSession(str(tmp_path / "sampler2.onnx")).run(
        None, {"cond": cond, "coarse_mel": coarse_mel, "mel_lens": mel_lens, "noise": noise.numpy()})
    assert np.abs(mel2 - mel).max() > 1e-2
    assert all(p.requires_grad for p in generator.decoder.denoiser.parameters())  # export left them as they were


def test_sampler_steps_rules(voice):
    from omegaconf import open_dict

    from nemo_distill.parts.export_graphs import export_sampler_steps

    generator, _, _ = voice
    assert export_sampler_steps(generator) == STEPS
    with pytest.raises(ValueError, match="distilled for 4 steps.*allow_step_mismatch"):
        export_sampler_steps(generator, 8)
    assert export_sampler_steps(generator, 8, allow_step_mismatch=True) == 8
    with pytest.raises(ValueError, match="integer >= 1"):
        export_sampler_steps(generator, 0, allow_step_mismatch=True)
    teacher = type(generator)(generator.cfg)  # same config without the lineage
    with open_dict(teacher.cfg):
        del teacher.cfg["distillation"]
    with pytest.raises(ValueError, match="not fixed"):
        export_sampler_steps(teacher)
    assert export_sampler_steps(teacher, 16) == 16
    with open_dict(teacher.cfg):
        teacher.cfg.diffusion.sampler = "ddpm"
    teacher.settings.sampler = "ddpm"
    with pytest.raises(ValueError, match="draws new noise at every step"):
        teacher.export_graph("sampler", 16)
    with pytest.raises(ValueError, match="unknown export form"):
        generator.export("x.onnx", form="everything")


# ------------------------------------------------------------------------------------------ the repository
def test_repository_layout_and_configs_parse_with_tritons_schema(repo, voice):
    import onnxruntime as ort
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    from nemo_distill.utils.files import sha256_file

    with open(os.path.join(repo, "deploy.json")) as f:
        manifest = json.load(f)
    configs = {}
    for name in ("frontend", "sampler", "vocoder", "denoiser_step", "tts"):
        with open(os.path.join(repo, name, "config.pbtxt")) as f:
            configs[name] = text_format.Parse(f.read(), model_config_pb2.ModelConfig())  # fails on unknown fields
        assert configs[name].name == name and os.path.isdir(os.path.join(repo, name, "1"))
    for name, entry in manifest["models"].items():
        path = os.path.join(repo, entry["file"])
        assert entry["file"] == f"{name}/1/model.onnx" and sha256_file(path) == entry["sha256"]
        config, session = configs[name], ort.InferenceSession(path)
        assert config.platform == "onnxruntime_onnx" and config.max_batch_size == 8
        for declared, actual in ((config.input, session.get_inputs()), (config.output, session.get_outputs())):
            assert [t.name for t in declared] == [t.name for t in actual]
            for tensor, onnx_tensor in zip(declared, actual):
                rank = len(tensor.reshape.shape) if tensor.HasField("reshape") else len(tensor.dims)
                assert rank + 1 == len(onnx_tensor.shape), tensor.name  # + Triton's batch axis
                fixed = [d for d in tensor.dims if d > 0]
                assert fixed == [d for d in onnx_tensor.shape[1:] if isinstance(d, int)] or tensor.HasField("reshape")
                assert model_config_pb2.DataType.Name(tensor.data_type) == {
                    "tensor(float)": "TYPE_FP32", "tensor(int64)": "TYPE_INT64"}[onnx_tensor.type]
    ensemble = configs["tts"]
    assert ensemble.platform == "ensemble"
    steps = [{"model": s.model_name, "inputs": dict(s.input_map), "outputs": dict(s.output_map)}
             for s in ensemble.ensemble_scheduling.step]
    assert steps == manifest["pipeline"]  # the client runs exactly the ensemble's wiring
    produced = {"TOKENS", "NOISE"}
    for step in steps:  # every tensor a step reads exists by then, and names real inputs/outputs of its model
        config = configs[step["model"]]
        assert set(step["inputs"]) == {t.name for t in config.input}
        assert set(step["outputs"]) <= {t.name for t in config.output}
        assert set(step["inputs"].values()) <= produced
        produced |= set(step["outputs"].values())
    assert {t.name for t in ensemble.output} <= produced
    # what Triton checks when it loads the ensemble: each ensemble tensor has the shape the model that reads or
    # writes it shows from outside (dims, never the model's own reshape)
    outside = {}
    for step in steps:
        config = configs[step["model"]]
        outside.update({step["inputs"][t.name]: list(t.dims) for t in config.input})
        outside.update({step["outputs"][t.name]: list(t.dims) for t in config.output if t.name in step["outputs"]})
    for tensor in list(ensemble.input) + list(ensemble.output):
        assert not tensor.HasField("reshape") and list(tensor.dims) == outside[tensor.name], tensor.name
    _, _, paths = voice
    lineage = manifest["lineage"]
    assert (lineage["steps"], lineage["round"], lineage["teacher_steps"]) == (STEPS, 6, 2 * STEPS)
    assert lineage["origin_teacher_sha256"] == "ab" * 32 and manifest["steps"] == STEPS
    assert lineage["generator_sha256"] == sha256_file(paths["generator"])
    assert lineage["vocoder_sha256"] == sha256_file(paths["vocoder"])


def test_onnx_pipeline_matches_pytorch(repo, voice, client):
    generator, vocoder, _ = voice
    pipeline = client.OnnxTTSPipeline(repo)
    tokens = pipeline.tokenizer.encode_batch(TEXTS)
    np.testing.assert_array_equal(tokens, generator.parse_batch(TEXTS)[0].numpy())
    noise = pipeline.noise(tokens, seed=3)
    tensors = pipeline.run(tokens, noise)
    with torch.no_grad():
        mel, lengths = generator.generate_spectrogram(torch.from_numpy(tokens), noise=torch.from_numpy(noise),
                                                      return_lengths=True)
        audio = vocoder.convert_spectrogram_to_audio(spec=mel).numpy()
    np.testing.assert_array_equal(tensors["MEL_LENS"], lengths.numpy())
    assert np.abs(tensors["MEL"] - mel.numpy()).max() < 1e-3
    hop = pipeline.manifest["hop_length"]
    waves = pipeline.synthesize(TEXTS, seed=3)
    for i, length in enumerate(lengths.tolist()):
        reference = audio[i, : length * hop]
        assert waves[i].shape == reference.shape and reference.std() > 0
        assert np.corrcoef(waves[i], reference)[0, 1] > 0.999


def test_client_tokenizer_is_nemos(voice, client, repo):
    generator, _, _ = voice
    with open(os.path.join(repo, "tokenizer.json")) as f:
        tokenizer = client.CharTokenizer(json.load(f))
    for text in ["Héllo,  World!", "don’t stop “quoted”", "tabs\tand\nnewlines", "numbers 123 and ~weird^ chars",
                 "  trailing spaces   ", "ÀÉÎÕÜ çà", "a-b/c (d) [e] {f}; g: h?"]:
        assert tokenizer.encode(text) == generator.parse(text)[0].tolist(), text
    with pytest.raises(ValueError, match="empty text"):
        tokenizer.encode_batch(["  "])
    with pytest.raises(ValueError, match="no character the tokenizer supports"):
        tokenizer.encode_batch(["~~~ ^^^"])


def test_infer_onnx_writes_a_wav_without_importing_torch(repo, tmp_path, client):
    out = str(tmp_path / "hello.wav")
    code = ("import runpy, sys\n"
            f"sys.argv = ['infer_onnx.py', {repo!r}, 'Hello world.', {out!r}, '--seed', '3']\n"
            "try:\n    runpy.run_path('scripts/infer_onnx.py', run_name='__main__')\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print('imported:', sorted(m for m in ('torch', 'nemo', 'lightning') if m in sys.modules))\n"
            "print('client:', 'nemo_distill.runtime.onnx_client' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "imported: []" in result.stdout and "client: True" in result.stdout  # the package's runtime, no torch
    with wave.open(out) as f:
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate()) == (1, 2, 22050)
        frames = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
    (expected,) = client.OnnxTTSPipeline(repo).synthesize(["Hello world."], seed=3)
    assert len(frames) == len(expected) > 0
    assert np.abs(frames / 32767.0 - np.clip(expected, -1, 1)).max() < 1e-4

    bad = subprocess.run([sys.executable, "scripts/infer_onnx.py", str(tmp_path), "hi", out],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "not a repository written by scripts/export.py" in bad.stderr


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("damage", ["flipped", "deleted"])
def test_a_corrupt_or_missing_model_file_is_named_before_any_session(repo, client, tmp_path, damage):
    copy = str(tmp_path / "repo")
    shutil.copytree(repo, copy)
    model = os.path.join(copy, "frontend", "1", "model.onnx")
    if damage == "flipped":  # 256 flipped bytes: it spoke other audio (correlation 0.98) and exited 0 before
        with open(model, "r+b") as f:
            f.seek(os.path.getsize(model) // 2)
            data = f.read(256)
            f.seek(os.path.getsize(model) // 2)
            f.write(bytes(b ^ 0xFF for b in data))
        error, match = ValueError, "frontend/1/model.onnx \\(frontend\\) is corrupt: its sha256 differs"
    else:
        os.remove(model)
        error, match = FileNotFoundError, "frontend/1/model.onnx \\(frontend\\) is missing"
    with pytest.raises(error, match=match):
        client.OnnxTTSPipeline(copy)
    out = str(tmp_path / "out.wav")
    result = subprocess.run([sys.executable, "scripts/infer_onnx.py", copy, "hello.", out], capture_output=True,
                            text=True)
    assert result.returncode == 2 and "model.onnx" in result.stderr and "Traceback" not in result.stderr
    assert not os.path.exists(out)


def test_export_script_refuses_an_existing_folder(repo, voice):
    _, _, paths = voice
    before = {f: os.path.getmtime(os.path.join(repo, f)) for f in ("deploy.json", "tokenizer.json")}
    result = subprocess.run([sys.executable, "scripts/export.py", paths["generator"], repo, "--vocoder",
                             paths["vocoder"]], capture_output=True, text=True)
    assert result.returncode == 2 and "exists: pass --overwrite" in result.stderr
    assert before == {f: os.path.getmtime(os.path.join(repo, f)) for f in before}


def test_failed_overwrite_keeps_the_old_repository(voice, tmp_path):
    from nemo_distill.export.repository import export_triton_repository

    generator, vocoder, _ = voice
    out = str(tmp_path / "repo")
    os.makedirs(out)
    with open(os.path.join(out, "deploy.json"), "w") as f:
        f.write("old")

    class BrokenVocoder:  # passes the mel check, fails half-way through the export
        cfg = vocoder.cfg

        def export(self, path):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        export_triton_repository(generator, out, vocoder=BrokenVocoder(), overwrite=True)
    assert open(os.path.join(out, "deploy.json")).read() == "old"
    assert sorted(os.listdir(tmp_path)) == [".repo.lock", "repo"]  # no temporary folder left (the lock file stays)
    with pytest.raises(FileExistsError, match="overwrite"):
        export_triton_repository(generator, out, vocoder=vocoder)
    with pytest.raises(ValueError, match="distilled for 4 steps"):
        export_triton_repository(generator, str(tmp_path / "new"), vocoder=vocoder, steps=2)
    assert not os.path.exists(tmp_path / "new")


def test_vocoder_with_other_mel_settings_is_refused(voice, tmp_path):
    from nemo_distill.export.repository import export_triton_repository

    generator, vocoder, _ = voice

    class OtherVocoder:
        cfg = vocoder.cfg.copy()

    from omegaconf import open_dict

    with open_dict(OtherVocoder.cfg):
        OtherVocoder.cfg.preprocessor.n_window_stride = 128
    with pytest.raises(ValueError, match="n_window_stride"):
        export_triton_repository(generator, str(tmp_path / "repo"), vocoder=OtherVocoder())
    assert not os.path.exists(tmp_path / "repo")


def test_static_int8_vocoder_is_calibrated_on_the_voices_mels_and_a_bad_mode_is_refused(voice, tmp_path):
    """``quantize_vocoder="static"``: the vocoder graph holds int8 QDQ pairs with ranges calibrated on the
    generator's own mels, and still turns a mel into audio of the float graph's length."""
    import onnx
    import onnxruntime as ort

    from nemo.collections.tts.models import HifiGanModel
    from nemo_distill.export.repository import export_triton_repository
    from nemo_distill.parts.restore import restore_model

    generator, vocoder, paths = voice
    with pytest.raises(ValueError, match="unknown vocoder quantisation 'int4': choose one of dynamic, static"):
        export_triton_repository(generator, str(tmp_path / "bad"), vocoder=vocoder, quantize_vocoder="int4")
    assert not os.path.exists(tmp_path / "bad")
    repo = export_triton_repository(generator, str(tmp_path / "repo"), quantize_vocoder="static",
                                    vocoder=restore_model(paths["vocoder"], HifiGanModel))  # export alters it
    graph = os.path.join(repo, "vocoder", "1", "model.onnx")
    assert any(node.op_type == "QuantizeLinear" for node in onnx.load(graph).graph.node)
    assert json.load(open(os.path.join(repo, "deploy.json")))["vocoder_quantization"] == "int8 static"
    assert not [name for name in os.listdir(os.path.dirname(graph)) if name != "model.onnx"]  # no float graph left
    mel = np.random.default_rng(0).normal(-6.0, 1.5, (1, 80, 20)).astype(np.float32)
    (audio,) = ort.InferenceSession(graph).run(None, {"spec": mel})
    assert audio.shape == (1, 1, 19 * 256) and np.isfinite(audio).all()


# ------------------------------------------------------------------------------------------ the benchmark
@pytest.mark.slow  # five fresh processes (the point of the benchmark), three of them importing NeMo
def test_deploy_benchmark_measures_every_part_of_every_system_in_its_own_process(repo, voice, tmp_path):
    from omegaconf import open_dict

    from nemo.collections.tts.models import FastPitchModel
    from nemo_distill.eval.deploy_benchmark import format_deploy_table, plot_deploy, run_deploy_benchmark

    generator, _, paths = voice
    cfg = generator.cfg.copy()
    with open_dict(cfg):
        del cfg.diffusion, cfg.frontend, cfg.distillation, cfg.target  # a FastPitchModel of its own
    fastpitch = FastPitchModel(cfg)
    fastpitch.fastpitch.load_state_dict(generator.fastpitch.state_dict())  # the voice's front-end as plain FastPitch
    fastpitch.save_to(str(tmp_path / "fastpitch.nemo"))
    rows = run_deploy_benchmark(paths["generator"], paths["generator"], paths["vocoder"], repo, TEXTS,
                                str(tmp_path), teacher_steps=8, progress=lambda message: None,
                                fastpitch=str(tmp_path / "fastpitch.nemo"))
    by_name = {r["system"]: r for r in rows}
    assert list(by_name) == ["teacher_8 (PyTorch)", "student_4 (PyTorch)", "fastpitch (PyTorch)",
                             "student_4 (onnxruntime)", "front-end + vocoder, no sampler (onnxruntime)"]
    onnx, no_sampler = by_name["student_4 (onnxruntime)"], by_name["front-end + vocoder, no sampler (onnxruntime)"]
    assert onnx["imports"] == no_sampler["imports"] == ["onnxruntime"]  # the ONNX systems really ran without torch
    assert "torch" in rows[0]["imports"] and "nemo" in rows[1]["imports"]
    assert onnx["mel_lengths_equal"] and onnx["mel_max_abs_diff_vs_pytorch"] < 1e-3
    assert onnx["audio_min_corr_vs_pytorch"] > 0.999
    for row in rows:  # each utterance's time split into its parts: they add up to the total
        parts = [row[f"{part}_ms_per_utt"] for part in ("frontend", "sampler", "vocoder")]
        assert row["frontend_ms_per_utt"] > 0 and row["vocoder_ms_per_utt"] > 0, row["system"]
        assert sum(parts) == pytest.approx(row["total_ms_per_utt"]) and sum(row["share"].values()) == pytest.approx(1)
        assert row["rtf"] > 0 and row["peak_rss_mb"] >= row["rss_after_imports_mb"] > 0
    # the diffusion rows spend time in the sampler; FastPitch and the graphs without the sampler do not
    for name in ("teacher_8 (PyTorch)", "student_4 (PyTorch)", "student_4 (onnxruntime)"):
        assert by_name[name]["sampler_ms_per_utt"] > 10 * no_sampler["sampler_ms_per_utt"], name
    assert by_name["fastpitch (PyTorch)"]["sampler_ms_per_utt"] < by_name["student_4 (PyTorch)"]["sampler_ms_per_utt"]
    assert by_name["teacher_8 (PyTorch)"]["sampler_ms_per_utt"] > by_name["student_4 (PyTorch)"]["sampler_ms_per_utt"]
    # the onnx process holds neither torch nor NeMo: a fraction of the PyTorch processes' memory
    assert onnx["peak_rss_mb"] < rows[1]["peak_rss_mb"]
    table = format_deploy_table(rows, "caption")
    assert table.count("\n| ") == 6 and "caption" in table  # header + separator + 5 rows
    plot_deploy(rows, str(tmp_path / "deploy.png"))
    assert os.path.getsize(tmp_path / "deploy.png") > 0
    assert json.load(open(tmp_path / "deploy_results.json"))[3]["system"] == onnx["system"]


# -------------------------------------------------------------------------------------- the installed package
@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_synthesizes_and_runs_onnx(voice, repo, tmp_path):
    """``pip wheel .``, installed (not editable) into a fresh venv, runs its entry points from a folder outside the
    checkout: text -> wav with the .nemo (NeMo, the configs inside the wheel), text -> wav through onnxruntime on the
    module's repository (exported by the same ``cli.export.main`` that ``nemo-distill-export`` runs, whose installed
    script is checked with ``--help`` like the serving ones). The fresh venv sees the test venv's site-packages for
    the dependencies (torch, NeMo: a full install would take minutes), but nemo_distill only from the wheel (the
    checkout's editable finder is not loaded from there)."""
    import site
    import sysconfig

    _, _, paths = voice
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    repo_root], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = wheels.glob("nemo_distill-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python, bin_dir = str(venv / "bin" / "python"), venv / "bin"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    deps = [sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    with open(os.path.join(purelib, "test_venv_dependencies.pth"), "w") as f:
        f.write("\n".join(dict.fromkeys(deps)) + "\n")
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True,
                   capture_output=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    work = tmp_path / "elsewhere"
    work.mkdir()

    def run(*command):
        result = subprocess.run([str(c) for c in command], capture_output=True, text=True, cwd=work, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    where = run(python, "-c", "import nemo_distill, nemo_distill.utils.config as c; print(nemo_distill.__file__); "
                              "print(c.CONF_DIR)").split()
    assert where[0].startswith(purelib) and where[1].startswith(purelib)  # the wheel's package and its configs
    assert os.path.isfile(os.path.join(where[1], "diffusion_tts.yaml"))
    run(bin_dir / "nemo-distill-synthesize", paths["generator"], "--text", "Hello world.", "--out-dir", "synth",
        "--steps", "2")
    assert (work / "synth" / "000_diffusion.wav").stat().st_size > 1000
    for script in ("nemo-distill-export", "nemo-distill-serve", "nemo-distill-infer-triton"):
        assert "usage:" in run(bin_dir / script, "--help")
    run(bin_dir / "nemo-distill-infer-onnx", repo, "Hello world.", "hello.wav", "--seed", "0")
    with wave.open(str(work / "hello.wav")) as f:
        assert f.getnframes() > 1000
    run(python, "-m", "nemo_distill.eval.deploy_worker", "--help")  # the deployment benchmark's worker, installed


# ------------------------------------------------------------------------------------------------- long text
LONG = "The quick brown fox jumps over the lazy dog, again and again. "  # 62 characters, one sentence


@pytest.mark.parametrize("path", ["pytorch", "onnx"])
def test_a_20000_character_text_is_spoken_piece_by_piece_in_bounded_memory(voice, repo, tmp_path, path):
    """One fresh process speaks 2,000 then 20,000 characters: its peak resident set (VmHWM, which only grows) after
    each, and the audio lengths. Before pieces, 5,000 characters took 3.5 GB and 9,000 took 9.4 GB."""
    _, _, paths = voice
    files = {}
    for chars in (2000, 20000):
        files[chars] = tmp_path / f"text_{chars}.txt"
        files[chars].write_text((LONG * (chars // len(LONG) + 1))[:chars])
    peak = "int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]) // 1024"
    if path == "pytorch":  # the voice's own path, text to mel piece by piece (the CLI adds a vocoder per piece)
        code = ("import torch; from nemo_distill.models import DiffusionSpectrogramGenerator\n"
                "torch.set_num_threads(1)\n"
                f"model = DiffusionSpectrogramGenerator.from_nemo({paths['generator']!r})\n"
                f"for chars, text in {[(c, str(f)) for c, f in files.items()]!r}:\n"
                "    frames = 0\n"
                "    for piece in model.text_pieces(open(text).read()):\n"
                "        _, lengths = model.generate_spectrogram(model.parse_batch([piece])[0], steps=1, seed=0,\n"
                "                                                return_lengths=True)\n"
                "        frames += int(lengths[0])\n"
                f"    print('RESULT', chars, {peak}, frames)\n")
    else:
        code = ("from nemo_distill.runtime.onnx_client import OnnxTTSPipeline\n"
                f"pipeline = OnnxTTSPipeline({repo!r})\n"
                f"for chars, text in {[(c, str(f)) for c, f in files.items()]!r}:\n"
                "    (audio,) = pipeline.synthesize([open(text).read()])\n"
                f"    print('RESULT', chars, {peak}, len(audio))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {int(c): (int(mb), int(n)) for _, c, mb, n in
            (line.split() for line in result.stdout.splitlines() if line.startswith("RESULT"))}
    (small_mb, small_samples), (large_mb, large_samples) = rows[2000], rows[20000]
    print(f"{path}: peak RSS {small_mb} MB after 2,000 characters, {large_mb} MB after 20,000; "
          f"output {small_samples} vs {large_samples} (mel frames / audio samples)")
    assert 8.5 < large_samples / small_samples < 11.5  # audio proportional to the text
    assert large_mb - small_mb < 400  # bounded: what grows is the audio itself (~60 MB of float32 here)


# ------------------------------------------------------------------------------ what changes the speech is hashed
@pytest.mark.parametrize("damage", ["tokenizer_letters_swapped", "deploy_json_edited"])
def test_an_edited_tokenizer_or_manifest_is_named_before_any_session(repo, tmp_path, damage):
    """Two letters swapped in tokenizer.json changed the speech silently; an edited deploy.json (n_mels) ended in an
    onnxruntime broadcast traceback. Both are recorded by sha256 at export and named by every reader."""
    import json

    from nemo_distill.runtime.onnx_client import OnnxTTSPipeline
    from nemo_distill.runtime.triton_server import check_serving_repository

    broken = str(tmp_path / "repo")
    shutil.copytree(repo, broken)
    if damage == "tokenizer_letters_swapped":
        path = os.path.join(broken, "tokenizer.json")
        spec = json.load(open(path))
        a, b = spec["tokens"].index("a"), spec["tokens"].index("e")
        spec["tokens"][a], spec["tokens"][b] = spec["tokens"][b], spec["tokens"][a]
        match = r"tokenizer.json is corrupt or edited"
    else:
        path = os.path.join(broken, "deploy.json")
        spec = json.load(open(path))
        spec["n_mels"] = 40
        match = r"deploy.json was changed after export"
    with open(path, "w") as f:
        json.dump(spec, f, indent=1)
    with pytest.raises(ValueError, match=match):
        OnnxTTSPipeline(broken)
    with pytest.raises(ValueError, match=match):
        check_serving_repository(broken)
    run = subprocess.run([sys.executable, "scripts/infer_onnx.py", broken, "hello.", str(tmp_path / "x.wav")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and re.search(match, run.stderr) and not (tmp_path / "x.wav").exists(), run.stderr


# ------------------------------------------------------------------------------------------ infer_onnx's output
def test_infer_onnx_to_a_missing_folder_is_refused_before_any_work(repo, tmp_path, client, monkeypatch):
    """It failed after synthesis with AttributeError: 'Wave_write' object has no attribute '_file'."""
    monkeypatch.setattr(client.OnnxTTSPipeline, "__init__", lambda *a, **k: pytest.fail("work before the check"))
    out = str(tmp_path / "no" / "such" / "folder" / "x.wav")
    assert client.main([repo, "hello.", out]) == 2


def test_a_full_disk_is_one_line_and_leaves_no_temporary_wav(repo, tmp_path, client, monkeypatch, capsys):
    """Disk full while the wav is written (simulated: ENOSPC from the writer): one line naming the output, exit 2,
    no ``x.wav.tmp-<pid>`` left (a 1 MB one was before)."""
    import errno
    import wave as wave_module

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(wave_module.Wave_write, "writeframes", full)
    out = tmp_path / "x.wav"
    assert client.main([repo, "hello there.", str(out)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [f"error: {out}: No space left on device"]
    assert os.listdir(tmp_path) == []


def test_a_long_text_is_written_piece_by_piece_and_equals_the_joined_audio(repo, tmp_path, client):
    """infer_onnx.py holds one piece in memory at a time (800 MB at 50,000 characters before); the wav is the
    pieces' audio joined, exactly what synthesize() returns for the text."""
    pipeline = client.OnnxTTSPipeline(repo)
    text = " ".join(f"Sentence {i} is here." for i in range(40))  # ~800 characters: three pieces
    held = []
    pieces = pipeline.speak_pieces(text, seed=3)
    audio = []
    for piece in pieces:
        held.append(piece.nbytes)
        audio.append(piece)
    (joined,) = pipeline.synthesize([text], seed=3)
    assert len(held) >= 3 and np.array_equal(np.concatenate(audio), joined)
    out = str(tmp_path / "long.wav")
    assert client.main([repo, text, out, "--seed", "3"]) == 0
    with wave.open(out) as f:
        assert f.getnframes() == len(joined)


def test_a_killed_exports_temporary_folder_is_removed_by_the_next_export(voice, repo, tmp_path):
    """A killed export left ``.<name>.tmp-<pid>`` that no rerun removed; the next export of that folder (holding its
    lock, so no other export of it runs) removes it."""
    from nemo_distill.export.repository import export_triton_repository

    generator, vocoder, _ = voice
    leftover = tmp_path / ".repo.tmp-999999"
    shutil.copytree(repo, leftover)  # what a kill -9 half-way through leaves
    export_triton_repository(generator, str(tmp_path / "repo"), vocoder=vocoder)
    assert sorted(os.listdir(tmp_path)) == [".repo.lock", "repo"]


def test_export_script_names_a_full_disk_in_one_line(voice, tmp_path, monkeypatch, capsys):
    import errno

    from nemo_distill.cli.export import main
    from nemo_distill.export import repository

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / ".repo.tmp-1" / "deploy.json"))

    monkeypatch.setattr(repository, "write_json_atomic", full)
    _, _, paths = voice
    out = tmp_path / "repo"
    assert main([paths["generator"], str(out), "--vocoder", paths["vocoder"]]) == 2
    error = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and error[0].startswith(f"error: {out}: No space left on device")
    assert not out.exists() and not [n for n in os.listdir(tmp_path) if ".tmp-" in n]
