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

"""ProgressiveDistillationModel and the rounds runner on a tiny teacher: lineage, resume, refusals, DDP sharding."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch


REPO = Path(__file__).resolve().parents[1]
# enough steps at a high enough rate that a student measurably learns its target (the benchmark's directional check)
TRAINED = ("model.round_steps=40", "model.optim.lr=3e-3")


def _cfg(teacher, manifest, out_dir, *overrides):
    from nemo_distill.utils.config import compose_config

    return compose_config("distillation_tiny", [
        f"teacher={teacher}", f"texts={manifest}", f"out_dir={out_dir}", "exp_manager.create_tensorboard_logger=false",
        *TRAINED, *overrides,
    ])


@pytest.fixture(scope="module")
def distilled(teacher_nemo, corpus, tmp_path_factory):
    from nemo_distill.distillation import run_distillation

    out = tmp_path_factory.mktemp("distill")
    paths = run_distillation(_cfg(teacher_nemo, corpus[1], out))
    return out, paths


def _sha(path):
    from nemo_distill.utils.files import sha256_file

    return sha256_file(path)


def test_plan_runs_all_rounds_and_students_carry_lineage(distilled, teacher_nemo):
    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.data.synthetic_shards import SyntheticShardStore

    out, paths = distilled
    assert [os.path.basename(p) for p in paths] == ["Student_4steps.nemo", "Student_2steps.nemo"]
    data_sha = SyntheticShardStore(str(out / "synthetic")).manifest_sha256()
    teacher = DiffusionSpectrogramGenerator.from_nemo(teacher_nemo)
    previous = teacher_nemo
    for number, (path, steps) in enumerate(zip(paths, (4, 2)), 1):
        student = DiffusionSpectrogramGenerator.from_nemo(path)
        lineage = student.cfg.distillation
        assert student.cfg.diffusion.default_steps == steps and lineage.steps == steps
        assert lineage.round == number and lineage.teacher_steps == 2 * steps and lineage.weighting == "snr_trunc"
        assert lineage.teacher_sha256 == _sha(previous) and lineage.origin_teacher_sha256 == _sha(teacher_nemo)
        assert lineage.synthetic_data_sha256 == data_sha
        previous = path
    # the student was trained: its denoiser moved away from the teacher's, the front-end did not
    student = DiffusionSpectrogramGenerator.from_nemo(paths[-1])
    t_state, s_state = teacher.state_dict(), student.state_dict()
    assert any(not torch.equal(t_state[k], s_state[k]) for k in t_state if k.startswith("decoder."))
    assert all(torch.equal(t_state[k], s_state[k]) for k in t_state if not k.startswith("decoder."))
    tokens, _ = student.parse_batch(["hello world.", "a tiny test sentence."])
    mels = student.generate_spectrogram(tokens, seed=0)  # its default steps, as scripts/synthesize.py would
    assert mels.shape[:2] == (2, 80) and torch.isfinite(mels).all()


def test_distilling_a_student_further_keeps_the_origin_teacher(distilled, teacher_nemo, corpus, tmp_path):
    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.distillation import run_distillation

    _, paths = distilled
    further = run_distillation(_cfg(paths[-1], corpus[1], tmp_path, "plan.teacher_steps=2", "plan.student_steps=1"))
    lineage = DiffusionSpectrogramGenerator.from_nemo(further[-1]).cfg.distillation
    assert lineage.teacher_sha256 == _sha(paths[-1]) and lineage.origin_teacher_sha256 == _sha(teacher_nemo)


def test_model_checkpoints_only_the_student_denoiser(distilled, teacher_nemo):
    from nemo_distill.models.progressive_distillation import ProgressiveDistillationModel

    out, _ = distilled
    cfg = _cfg(teacher_nemo, "unused", out).model
    from omegaconf import open_dict

    with open_dict(cfg):
        cfg.teacher_path, cfg.teacher_steps, cfg.synthetic_data = teacher_nemo, 8, str(out / "synthetic")
    model = ProgressiveDistillationModel(cfg)
    assert model.student_steps == 4
    state = model.state_dict()
    assert all(k.startswith("decoder.") for k in state)  # the student's decoder: the teacher is teacher_path's
    assert not any(p.requires_grad for p in model.teacher_decoder.parameters())
    model.load_state_dict(state)  # strict: a checkpoint without the teacher resumes
    legacy = {k.replace("decoder.", "", 1): v for k, v in state.items() if k != "decoder.residual_scale"}
    model.load_state_dict(legacy)  # a round checkpoint written before the decoder unit (keys denoiser.*)
    batch = next(iter(model._train_dl))
    loss = model.distillation_loss(batch)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss.requires_grad
    # the shards' teacher sample is reproducible from its seeds, whatever the batch and padding (validation relies
    # on it: "distance to the full-step teacher from the same noise")
    assert float(model._l1_to_teacher(model._sample(model.teacher_decoder, batch, 8), batch)) < 1e-4
    assert float(model._l1_to_teacher(model._sample(model.teacher_decoder, batch, 2), batch)) > 1e-3


def _folder_bytes(folder):
    """sha256 of every result in ``folder``: shards, checkpoints, students, records. Left out: the lock file, and
    NeMo's text logs, which the log handlers exp_manager attached in this test process (the rounds of the fixture)
    go on appending to whatever runs later in it."""
    from nemo_distill.utils.files import sha256_file

    return {os.path.relpath(os.path.join(d, f), folder): sha256_file(os.path.join(d, f))
            for d, _, files in os.walk(folder) for f in files
            if f != ".nemo_distill.lock" and not (f.startswith("nemo_") and f.endswith(".txt"))}


def test_a_second_distillation_on_a_busy_folder_is_refused_and_the_first_untouched(distilled, teacher_nemo, corpus):
    from nemo_distill.distillation import run_distillation
    from nemo_distill.utils.locks import FolderLockedError

    out, _ = distilled
    before = _folder_bytes(out)
    holder = subprocess.Popen([sys.executable, "-c", (  # the first run, still going
        "import time; from nemo_distill.utils.locks import folder_lock\n"
        f"with folder_lock({str(out)!r}, what='distillation'):\n    print('locked', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(FolderLockedError, match=f"in use by another distillation \\(pid {holder.pid}"):
            run_distillation(_cfg(teacher_nemo, corpus[1], out))
    finally:
        holder.kill()
        holder.wait()
    assert _folder_bytes(out) == before  # byte for byte


def test_other_round_settings_keep_finished_students_other_shard_settings_are_refused(distilled, teacher_nemo,
                                                                                      corpus):
    """Round settings are each round's: a finished student made with other ones is kept and reused (a warning names
    them; nothing in the folder changes); what the shards depend on is the folder's, and refused."""
    from nemo_distill.distillation import run_distillation

    out, paths = distilled
    before = _folder_bytes(out)
    for override in ("model.round_steps=7", "model.optim.lr=0.5", "model.train_ds.batch_size=3"):
        assert run_distillation(_cfg(teacher_nemo, corpus[1], out, override)) == paths
    assert _folder_bytes(out) == before
    with pytest.raises(ValueError, match="holds a distillation with other settings "
                                         "\\(synthetic_seed: folder 0, now 5\\): its shards were made for those"):
        run_distillation(_cfg(teacher_nemo, corpus[1], out, "synthetic.seed=5"))
    assert _folder_bytes(out) == before


def test_a_failed_round_reruns_with_a_lower_lr(teacher_nemo, corpus, tmp_path, monkeypatch):
    """A round stopped on a non-finite loss said "Lower model.optim.lr", and the rerun with a lower lr was refused
    (the folder's identity held the optimiser): the round starts again, its earlier checkpoints moved aside, on the
    same shards; the finished round before it is kept."""
    from nemo_distill.distillation import run_distillation
    from nemo_distill.distillation.rounds import NonFiniteLossError
    from nemo_distill.models.progressive_distillation import ProgressiveDistillationModel

    out = tmp_path / "run"
    original = ProgressiveDistillationModel.distillation_loss

    def nan_in_round_two(self, batch):
        loss = original(self, batch)
        return loss * float("nan") if self.teacher_steps == 4 else loss

    monkeypatch.setattr(ProgressiveDistillationModel, "distillation_loss", nan_in_round_two)
    with pytest.raises(NonFiniteLossError, match="round_02_4to2 stopped at step 0 on a non-finite loss"):
        run_distillation(_cfg(teacher_nemo, corpus[1], out, "model.optim.lr=3e-3"))
    first, shards = out / "students" / "Student_4steps.nemo", out / "synthetic" / "manifest.json"
    stamps = (first.stat().st_mtime_ns, shards.stat().st_mtime_ns)
    monkeypatch.setattr(ProgressiveDistillationModel, "distillation_loss", original)
    paths = run_distillation(_cfg(teacher_nemo, corpus[1], out, "model.optim.lr=1e-3"))
    assert [Path(p).name for p in paths] == ["Student_4steps.nemo", "Student_2steps.nemo"]
    assert (first.stat().st_mtime_ns, shards.stat().st_mtime_ns) == stamps  # round one and the shards reused
    assert (out / "rounds" / "round_02_4to2.replaced-1").is_dir()
    assert json.loads((out / "rounds" / "round_02_4to2.settings.json").read_text())["optim"]["lr"] == 1e-3


def test_a_branch_added_to_a_finished_ladder_reuses_its_shards_and_students(distilled, teacher_nemo, corpus):
    """dmd.enabled=true on a finished ladder folder was refused with a 549-character line: it is a new round on
    the same shards, the ladder's students untouched."""
    from nemo_distill.distillation import run_distillation

    out, ladder = distilled
    before = {p: _sha(p) for p in ladder}
    shards = (out / "synthetic" / "manifest.json").stat().st_mtime_ns
    paths = run_distillation(_cfg(teacher_nemo, corpus[1], out, "dmd.enabled=true", "dmd.generator_steps=2",
                                  "dmd.fake_updates=2"))
    assert paths[:2] == ladder and Path(paths[2]).name == "Student_1steps_dmd.nemo"
    assert {p: _sha(p) for p in ladder} == before
    assert (out / "synthetic" / "manifest.json").stat().st_mtime_ns == shards


def test_a_first_run_that_died_before_any_shard_leaves_a_folder_a_corrected_rerun_takes(teacher_nemo, corpus,
                                                                                          tmp_path, monkeypatch):
    from nemo_distill.distillation import rounds, run_distillation

    out = tmp_path / "run"

    def died(*args, **kwargs):
        raise RuntimeError("killed while sampling the first shard")

    monkeypatch.setattr(rounds, "generate_synthetic_data", died)
    with pytest.raises(RuntimeError, match="killed"):
        run_distillation(_cfg(teacher_nemo, corpus[1], out, "synthetic.seed=3"))  # the wrong seed, say
    assert (out / "distillation.json").is_file()
    monkeypatch.undo()
    paths = run_distillation(_cfg(teacher_nemo, corpus[1], out))  # corrected: taken over, not refused
    assert [Path(p).name for p in paths] == ["Student_4steps.nemo", "Student_2steps.nemo"]
    assert json.loads((out / "distillation.json").read_text())["synthetic_seed"] == 0


def test_seeded_noise_does_not_depend_on_padding():
    from nemo_distill.data.synthetic_shards import seeded_noise

    short = seeded_noise([3, 4], torch.tensor([5, 7]), 2, torch.zeros(2, 2, 7))
    padded = seeded_noise([4], torch.tensor([7]), 2, torch.zeros(1, 2, 12))
    assert torch.equal(short[1], padded[0, :, :7]) and torch.all(padded[0, :, 7:] == 0)
    assert torch.all(short[0, :, 5:] == 0) and not torch.equal(short[0, :, :5], short[1, :, :5])


def test_rerun_reuses_shards_and_finished_rounds(distilled, teacher_nemo, corpus):
    from nemo_distill.distillation import run_distillation

    out, paths = distilled
    files = sorted((out / "synthetic").iterdir()) + [Path(p) for p in paths]
    before = {f: (f.stat().st_mtime_ns, _sha(f)) for f in files}
    assert run_distillation(_cfg(teacher_nemo, corpus[1], out)) == paths
    assert {f: (f.stat().st_mtime_ns, _sha(f)) for f in files} == before


def _killed_in_round_two(monkeypatch, cfg):
    """Run ``cfg``'s distillation and kill it in round two, after that round's first checkpoint."""
    from nemo_distill.distillation import run_distillation
    from nemo_distill.models.progressive_distillation import ProgressiveDistillationModel

    original = ProgressiveDistillationModel.training_step

    def killed_in_round_two(self, batch, batch_idx):
        if self.teacher_steps == 4 and self.global_step == 3:  # after round two's first epoch checkpoint
            raise RuntimeError("killed")
        return original(self, batch, batch_idx)

    monkeypatch.setattr(ProgressiveDistillationModel, "training_step", killed_in_round_two)
    with pytest.raises(RuntimeError, match="killed"):
        run_distillation(cfg)
    monkeypatch.setattr(ProgressiveDistillationModel, "training_step", original)


def _resumed(monkeypatch, cfg):
    """Run ``cfg``'s distillation again: ``(students, the checkpoint paths the rounds it trained started from)``."""
    from nemo_distill.distillation import run_distillation
    from nemo_distill.models.progressive_distillation import ProgressiveDistillationModel

    resumed_from = []
    original_fit_start = ProgressiveDistillationModel.on_fit_start

    def record_start(self):
        resumed_from.append(self.trainer.ckpt_path)
        return original_fit_start(self)

    monkeypatch.setattr(ProgressiveDistillationModel, "on_fit_start", record_start)
    return run_distillation(cfg), resumed_from


def test_interrupted_round_resumes_and_keeps_finished_work(teacher_nemo, corpus, tmp_path, monkeypatch):
    out = tmp_path / "run"
    cfg = _cfg(teacher_nemo, corpus[1], out, "model.round_steps=5")
    _killed_in_round_two(monkeypatch, cfg)
    first = out / "students" / "Student_4steps.nemo"
    assert first.is_file() and not (out / "students" / "Student_2steps.nemo").exists()
    stamp = (first.stat().st_mtime_ns, _sha(first))
    checkpoints = out / "rounds" / "round_02_4to2" / "checkpoints"
    assert any(p.name.endswith("-last.ckpt") or p.name == "last.ckpt" for p in checkpoints.iterdir())
    paths, resumed_from = _resumed(monkeypatch, cfg)
    assert [Path(p).name for p in paths] == ["Student_4steps.nemo", "Student_2steps.nemo"]
    assert (first.stat().st_mtime_ns, _sha(first)) == stamp  # round one neither retrained nor rewritten
    assert len(resumed_from) == 1 and resumed_from[0] and "last" in os.path.basename(resumed_from[0])


def test_a_half_written_last_checkpoint_resumes_from_the_newest_readable_one(teacher_nemo, corpus, tmp_path,
                                                                          monkeypatch):
    """A ``last.ckpt`` cut in half crashed every rerun (a 190-line traceback) although an intact checkpoint lay
    beside it: it is moved aside, named, and the round resumes from that checkpoint."""
    out = tmp_path / "run"
    cfg = _cfg(teacher_nemo, corpus[1], out, "model.round_steps=5")
    _killed_in_round_two(monkeypatch, cfg)
    folder = out / "rounds" / "round_02_4to2" / "checkpoints"
    (last,) = [p for p in folder.iterdir() if p.name.endswith("last.ckpt")]
    intact = [p for p in folder.iterdir() if p.name.endswith(".ckpt") and p != last]
    assert intact
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    paths, resumed_from = _resumed(monkeypatch, cfg)
    assert [Path(p).name for p in paths] == ["Student_4steps.nemo", "Student_2steps.nemo"]
    assert resumed_from == [str(intact[0])]
    assert (folder / (last.name + ".unreadable")).is_file()


def test_a_round_stopped_on_a_nonfinite_loss_is_one_line_with_exit_2(teacher_nemo, corpus, tmp_path, monkeypatch,
                                                                     capsys):
    """The non-finite stop ended in a RuntimeError traceback; distill.py names it in one line, exit 2."""
    from tts_fixtures import load_script

    from nemo_distill.models.progressive_distillation import ProgressiveDistillationModel
    from nemo_distill.utils.config import CONF_DIR

    monkeypatch.setattr(ProgressiveDistillationModel, "distillation_loss",
                        lambda self, batch: torch.tensor(float("nan"), requires_grad=True))
    monkeypatch.setattr(sys, "argv", ["distill.py", f"--config-path={CONF_DIR}", "--config-name=distillation_tiny",
                                      f"teacher={teacher_nemo}", f"texts={corpus[1]}", f"out_dir={tmp_path / 'out'}",
                                      "exp_manager.create_tensorboard_logger=false"])
    with pytest.raises(SystemExit) as exit_info:
        load_script("distill").main()
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert errors == [errors[0]] and "round_01_8to4 stopped at step 0 on a non-finite loss" in errors[0]


@pytest.mark.slow  # several whole runs: 30-92 s of one core on CI's machine
def test_the_same_seeded_command_gives_the_same_students(teacher_nemo, corpus, tmp_path):
    """Training was unseeded (two identical DMD runs differed in every tensor): each round is seeded with ``seed`` +
    its number, recorded in its lineage; two runs give students with identical weights, another seed other ones."""
    from nemo_distill.distillation import run_distillation
    from nemo_distill.models import DiffusionSpectrogramGenerator

    dmd = ["dmd.enabled=true", "dmd.generator_steps=2", "dmd.fake_updates=2"]
    runs = [run_distillation(_cfg(teacher_nemo, corpus[1], tmp_path / name, *dmd, *extra))
            for name, extra in (("a", []), ("b", []), ("c", ["seed=7"]))]
    states = [[DiffusionSpectrogramGenerator.from_nemo(p).decoder.state_dict() for p in paths] for paths in runs]
    for a, b, c in zip(*states):
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert any(not torch.equal(a[k], c[k]) for k in a)
    lineage = [DiffusionSpectrogramGenerator.from_nemo(p).cfg.distillation for p in runs[0]]
    assert [entry.seed for entry in lineage] == [1235, 1236, 1237] and lineage[-1].stage == "dmd"
    # the same command in the same folder again (its paths are in the lineage): byte-identical .nemo files
    first = {p: _sha(p) for p in runs[0]}
    shutil.rmtree(tmp_path / "a")
    assert {p: _sha(p) for p in run_distillation(_cfg(teacher_nemo, corpus[1], tmp_path / "a", *dmd))} == first


def test_a_ten_thousand_character_training_text_is_cut_as_synthesis_cuts_it(teacher_nemo, tmp_path):
    """One 10,000-character line asked FastPitch's attention for a 7.2 GB allocation and left a folder whose rerun
    without it was refused: it is cut into pieces of at most 300 characters (as synthesis cuts a text) before the
    folder is touched, and the shards hold those pieces."""
    import json

    from nemo_distill.data.synthetic_shards import SyntheticShardStore
    from nemo_distill.distillation import run_distillation
    from nemo_distill.runtime.text import MAX_CHARS, split_text
    from nemo_distill.utils.files import sha256_text

    long = " ".join(f"Sentence number {i} of a very long line." for i in range(300))[:10_000]
    texts = tmp_path / "texts.txt"
    texts.write_text(f"hello world.\n{long}\n", encoding="utf-8")
    out = tmp_path / "out"
    run_distillation(_cfg(teacher_nemo, str(texts), out, "generate_only=true"))
    pieces = ["hello world.", *split_text(long, MAX_CHARS)]
    assert len(pieces) > 30 and max(len(p) for p in pieces) <= MAX_CHARS
    assert SyntheticShardStore(str(out / "synthetic")).read_manifest()["texts"] == pieces
    identity = json.loads((out / "distillation.json").read_text())
    assert identity["texts_sha256"] == sha256_text("\n".join(pieces))


def test_a_texts_file_that_is_not_utf8_is_refused_naming_it(teacher_nemo, tmp_path):
    from nemo_distill.distillation import run_distillation

    texts = tmp_path / "latin1.txt"
    texts.write_bytes("caf\u00e9 au lait.\n".encode("latin-1"))
    with pytest.raises(ValueError, match=f"{texts} is not UTF-8 text"):
        run_distillation(_cfg(teacher_nemo, str(texts), tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("teacher_steps, student_steps, match", [
    (10, 4, r"cannot halve 10 teacher steps down to 4.*nearest valid plans: .*10 -> 5"),
    (256, 3, r"cannot halve 256 .* 3 .*nearest valid plans"),
])
def test_bad_plan_refused_with_nearest_valid_plans(teacher_steps, student_steps, match):
    from nemo_distill.distillation import method_named, plan_rounds

    with pytest.raises(ValueError, match=match):
        plan_rounds(teacher_steps, student_steps)
    assert [r.name for r in plan_rounds(16, 4, before=[method_named("guidance")])] == [
        "round_00_guidance_16", "round_01_16to8", "round_02_8to4"]


def test_wrong_teacher_class_refused_before_any_work(corpus, tmp_path):
    from nemo_distill.models import ToyDiffusionModel
    from nemo_distill.distillation import run_distillation
    from nemo_distill.utils.config import compose_config

    toy = str(tmp_path / "toy.nemo")
    ToyDiffusionModel(compose_config("toy_diffusion").model).save_to(toy)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="holds a ToyDiffusionModel, not a DiffusionSpectrogramGenerator"):
        run_distillation(_cfg(toy, corpus[1], out))
    assert not out.exists()


def test_trainer_max_steps_refused_before_any_work(teacher_nemo, corpus, tmp_path):
    from nemo_distill.distillation import run_distillation

    out = tmp_path / "out"
    with pytest.raises(ValueError, match="trainer.max_steps=5: a round's length is model.round_steps"):
        run_distillation(_cfg(teacher_nemo, corpus[1], out, "+trainer.max_steps=5"))
    assert not out.exists()  # it was silently dropped before: now refused, and nothing written


def test_other_teacher_in_the_same_folder_refused(distilled, corpus, tmp_path):
    from nemo_distill.distillation import run_distillation

    out, paths = distilled
    with pytest.raises(ValueError, match="holds a distillation with other settings.*teacher_sha256"):
        run_distillation(_cfg(paths[0], corpus[1], out))  # a student as the new teacher: another lineage


def test_guidance_stage_folds_the_guided_prediction(distilled, teacher_nemo):
    from omegaconf import open_dict

    from nemo_distill.models import GuidanceFoldingModel

    out, _ = distilled
    cfg = _cfg(teacher_nemo, "unused", out).model
    with open_dict(cfg):
        cfg.teacher_path, cfg.teacher_steps, cfg.synthetic_data = teacher_nemo, 8, str(out / "synthetic")
        cfg.guidance_scale = 2.0
    model = GuidanceFoldingModel(cfg)
    assert model.student_steps == 8  # folding guidance keeps the step count
    torch.manual_seed(0)
    assert torch.isfinite(model.distillation_loss(next(iter(model._train_dl))))
    with open_dict(cfg):
        cfg.guidance_scale = 0.0
    with pytest.raises(ValueError, match="guidance_scale > 0"):
        GuidanceFoldingModel(cfg)


@pytest.mark.slow
def test_ddp_plan_runs_on_two_processes(teacher_nemo, corpus, distilled, tmp_path):
    """scripts/distill.py with two CPU processes (gloo): each rank writes its own shards (same data as one process),
    then every round (the layer stage too) trains on both ranks and rank 0 writes the students."""
    import json

    from nemo_distill.data.synthetic_shards import SyntheticUtterances
    from nemo_distill.models import DiffusionSpectrogramGenerator

    out = tmp_path / "ddp"
    command = [sys.executable, "scripts/distill.py", f"--config-name=distillation_tiny",
               f"teacher={teacher_nemo}", f"texts={corpus[1]}", f"out_dir={out}",
               "trainer.devices=2", "trainer.strategy=ddp", "trainer.accelerator=cpu",
               "layers.budgets=[1,2]", "layers.round_steps=2"]  # a reduced call leaves blocks without gradients
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    sidecars = sorted((out / "synthetic").glob("shard_*.json"))
    ranks = [json.loads(p.read_text())["rank"] for p in sidecars]
    assert len(sidecars) == 3 and ranks == [0, 1, 0]  # shard i made by rank i % 2
    ddp = SyntheticUtterances(str(out / "synthetic"))
    single = SyntheticUtterances(str(distilled[0] / "synthetic"))
    assert len(ddp) == len(single) == 6
    for a, b in zip(ddp, single):
        for x, y in zip(a[:3], b[:3]):
            assert torch.allclose(x, y, atol=1e-5)
    # the rounds: both on 2 ranks, each ending in a student that names its teacher
    log = result.stdout + result.stderr
    assert "round_01_8to4: training on 2 processes" in log and "round_02_4to2: training on 2 processes" in log
    assert "round_03_layers_2steps: training on 2 processes" in log
    previous = teacher_nemo
    for name, steps in (("Student_4steps.nemo", 4), ("Student_2steps.nemo", 2)):
        student = DiffusionSpectrogramGenerator.from_nemo(str(out / "students" / name))
        assert student.cfg.diffusion.default_steps == steps
        assert student.cfg.distillation.teacher_sha256 == _sha(previous)
        previous = str(out / "students" / name)
    layers = DiffusionSpectrogramGenerator.from_nemo(str(out / "students" / "Student_2steps_layers.nemo"))
    assert layers.cfg.distillation.teacher_sha256 == _sha(previous) and layers.cfg.diffusion.layer_budget == 1
    assert sorted(p.name for p in (out / "students").iterdir()) == [
        "Student_2steps.nemo", "Student_2steps_layers.nemo", "Student_4steps.nemo"]


@pytest.mark.slow  # a benchmark end to end: 30 s on CI's machine on a slow day
def test_benchmark_distillation_report(distilled, teacher_nemo, corpus, voice, tmp_path):
    """scripts/benchmark.py --students: teacher at N, naive k and student k rows, L1 to the teacher, the plot."""
    from tts_fixtures import load_benchmark_script

    module = load_benchmark_script()
    root, manifest = corpus
    _, paths = distilled
    out = tmp_path / "bench"
    results = module.main([teacher_nemo, "--manifest", manifest, "--sup-data-path", f"{root}/sup", "--students",
                           *paths, "--teacher-steps", "8", "--no-wer", "--out-dir", str(out), "--max-utterances", "3",
                           "--diversity-seeds", "2", "--no-dnsmos", "--vocoder", voice[2]["vocoder"]])
    assert list(results) == ["recording", "recording_mel", "teacher_8", "naive_4", "student_4", "naive_2",
                             "student_2"]
    # two seeds of a sentence differ for every diffusion row; the calibration rows have no such column
    assert all(r["diversity"] > 0 for r in results.values() if r["kind"] == "diffusion")
    assert "diversity" not in results["recording_mel"] and "diversity" in (out / "table.md").read_text()
    for k in (4, 2):
        for role in ("naive", "student"):
            r = results[f"{role}_{k}"]
            assert r["role"] == role and r["denoiser_calls"] == k and r["l1_to_reference"] > 0
    # each student is closer to its teacher's full-step sample from the same noise than naive sampling at its steps
    for k in (4, 2):
        assert results[f"student_{k}"]["l1_to_reference"] < results[f"naive_{k}"]["l1_to_reference"]
    assert "L1 to reference" in (out / "table.md").read_text() and (out / "distillation.png").stat().st_size > 0
    with pytest.raises(SystemExit, match="was not distilled from"):
        module.main([paths[0], "--manifest", manifest, "--sup-data-path", f"{root}/sup", "--students", paths[1],
                     "--no-wer", "--out-dir", str(out)])
