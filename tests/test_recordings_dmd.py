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

"""Real data (recordings with the teacher's conditioning aligned to them) and DMD's GAN on them
(``dmd.adversarial_real: recordings``) on the tiny teacher and tone corpus: what the store holds, that each recording
keeps its own conditioning, the discriminator's sides and refusals (resume: tests/test_one_step_distillation.py)."""

import math
import os

import pytest
import torch
from omegaconf import open_dict

RECORDINGS = ["dmd.adversarial_weight=0.05", "dmd.adversarial_real=recordings"]


def _cfg(teacher, manifest, out_dir, *overrides):
    from nemo_distill.utils.config import compose_config

    return compose_config("dmd_tiny", [f"teacher={teacher}", f"texts={manifest}", f"out_dir={out_dir}",
                                       "exp_manager.create_tensorboard_logger=false", *overrides])


@pytest.fixture(scope="module")
def recordings_run(teacher_nemo, corpus, tmp_path_factory):
    """A DMD round whose GAN learns from the tone corpus's recordings (shards of 4 recordings)."""
    from nemo_distill.distillation import run_distillation

    out = tmp_path_factory.mktemp("recordings_dmd")
    paths = run_distillation(_cfg(teacher_nemo, corpus[1], out, *RECORDINGS, f"recordings.manifest={corpus[1]}",
                                  "recordings.shard_size=4"))
    return out, paths


def test_each_recording_is_stored_with_its_mel_and_its_own_aligned_conditioning(recordings_run, teacher_nemo,
                                                                                corpus):
    """The store's mel of each recording is the teacher's preprocessor on that wav, and its conditioning is the
    teacher-forced front-end on that recording (in the same batch as the store's). Catches: rows paired with another
    recording's conditioning (shifted by one), mels cut or padded, the predicted instead of the aligned durations."""
    from nemo_distill.data.recording_shards import RecordingUtterances
    from nemo_distill.distillation.recording_data import _dataset, read_recordings
    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.parts.fastpitch_taps import teacher_forced

    out, _ = recordings_run
    stored = RecordingUtterances(str(out / "recordings"))
    rows = read_recordings(corpus[1])
    assert [item[3] for item in stored.items] == list(range(len(rows)))
    teacher = DiffusionSpectrogramGenerator.from_nemo(teacher_nemo).eval()
    dataset = _dataset(teacher, corpus[1], os.path.join(corpus[0], "sup"), rows)
    shard = list(range(4))  # the first shard (recordings.shard_size=4), made in one front-end call
    cond, coarse, mel, lengths, mel_lens, dec_lens = teacher_forced(
        teacher, dataset.collate_fn([dataset[row] for row in shard]), dataset.sup_data_types_set)
    assert torch.equal(mel_lens, dec_lens) and torch.equal(mel_lens, lengths)
    for row in shard:
        s_cond, s_coarse, s_mel, _ = stored[row]
        length = int(lengths[row])
        assert s_mel.shape[-1] == s_cond.shape[-1] == s_coarse.shape[-1] == length
        torch.testing.assert_close(s_mel, mel[row, :, :length], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(s_cond, cond[row, :, :length], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(s_coarse, coarse[row, :, :length], atol=1e-4, rtol=1e-4)
    assert stored.generation["recordings_manifest"] == os.path.abspath(corpus[1])


def test_the_student_names_the_recordings_it_learnt_from(recordings_run, corpus):
    from nemo_distill.data.recording_shards import RecordingShardStore
    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.utils.files import sha256_file

    from nemo_distill.distillation.methods import method_of_student

    out, paths = recordings_run
    student_cfg = DiffusionSpectrogramGenerator.from_nemo(paths[0]).cfg
    lineage = student_cfg.distillation
    assert lineage.dmd_adversarial_real == "recordings"
    assert method_of_student(student_cfg).row_of(student_cfg) == "dmd_recordings"  # its own benchmark row
    assert lineage.recordings_manifest_sha256 == sha256_file(corpus[1])
    assert lineage.real_data_sha256 == RecordingShardStore(str(out / "recordings")).manifest_sha256()


def test_a_shifted_alignment_is_refused_by_its_lengths():
    from nemo_distill.data.recording_shards import check_aligned, collate_recordings

    check_aligned(torch.tensor([40, 52]), torch.tensor([40, 52]), ["a.wav", "b.wav"])
    with pytest.raises(ValueError, match="b.wav: its mel has 52 frames, its aligned conditioning 53"):
        check_aligned(torch.tensor([40, 52]), torch.tensor([40, 53]), ["a.wav", "b.wav"])
    good = (torch.zeros(4, 10), torch.zeros(3, 10), torch.zeros(3, 10), 0)
    shifted = (torch.zeros(4, 11), torch.zeros(3, 11), torch.zeros(3, 10), 1)
    assert collate_recordings([good])["lengths"].tolist() == [10]
    with pytest.raises(ValueError, match="recording 1: .* not aligned"):
        collate_recordings([good, shifted])


def _other_teacher(teacher_nemo, folder):
    """The same tiny teacher with one weight changed: another file, another sha256."""
    from nemo_distill.models import DiffusionSpectrogramGenerator

    other = DiffusionSpectrogramGenerator.from_nemo(teacher_nemo)
    with torch.no_grad():
        next(other.decoder.parameters()).add_(0.01)
    path = str(folder / "other_teacher.nemo")
    other.save_to(path)
    return path


def test_real_data_of_another_teacher_are_refused(recordings_run, teacher_nemo, corpus, tmp_path):
    """A DMD round on real data made by another teacher fails naming both; a store of another teacher is never
    written over."""
    import lightning.pytorch as pl

    from nemo_distill.distillation.recording_data import generate_recording_data
    from nemo_distill.models import DiffusionSpectrogramGenerator, DistributionMatchingDistillation
    from nemo_distill.utils.config import compose_config
    from nemo_distill.utils.files import sha256_file

    out, _ = recordings_run
    other = _other_teacher(teacher_nemo, tmp_path)
    cfg = compose_config("dmd_tiny", [f"teacher={other}", f"texts={corpus[1]}", f"out_dir={tmp_path}"]).model
    with open_dict(cfg):
        cfg.teacher_path, cfg.synthetic_data, cfg.real_data = other, str(out / "synthetic"), str(out / "recordings")
        cfg.dmd = {"adversarial_weight": 0.05, "adversarial_real": "recordings", "fake_updates": 2}
    with pytest.raises(ValueError, match="made by another teacher"):
        DistributionMatchingDistillation(cfg)
    before = {name: os.path.getmtime(out / "recordings" / name) for name in os.listdir(out / "recordings")}
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         use_distributed_sampler=False)
    with pytest.raises(ValueError, match="other recordings or another teacher .*teacher_sha256"):
        generate_recording_data(DiffusionSpectrogramGenerator.from_nemo(other), sha256_file(other), corpus[1],
                                os.path.join(corpus[0], "sup"), str(out / "recordings"), trainer)
    assert {name: os.path.getmtime(out / "recordings" / name) for name in os.listdir(out / "recordings")} == before


@pytest.mark.parametrize("overrides, match", [
    (RECORDINGS, "set recordings.manifest"),
    (["dmd.adversarial_real=recordings", "recordings.manifest=M"], "needs dmd.adversarial_weight > 0"),
    (["dmd.adversarial_real=data", "dmd.adversarial_weight=0.1"], "unknown dmd.adversarial_real 'data'"),
    ([*RECORDINGS, "recordings.manifest=/nowhere.json"], "does not exist"),
])
def test_bad_recordings_settings_refused_before_any_work(teacher_nemo, corpus, tmp_path, overrides, match):
    from nemo_distill.distillation import run_distillation

    with pytest.raises((ValueError, FileNotFoundError), match=match):
        run_distillation(_cfg(teacher_nemo, corpus[1], tmp_path / "out", *overrides))
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------- the GAN's sides, with stubs
def _stub_model(recordings_run, teacher_nemo, monkeypatch):
    """The round's model on its real data, with known tensors: a recordings window whose mel is -1 and whose
    conditioning is all 7s, a generator whose x0 is 2 everywhere, a head that scores the mean of its input and
    remembers the conditioning it was given."""
    from nemo_distill.models import DistributionMatchingDistillation
    from nemo_distill.utils.config import compose_config

    out, _ = recordings_run
    cfg = compose_config("dmd_tiny", [f"teacher={teacher_nemo}", "texts=x", "out_dir=x"]).model
    with open_dict(cfg):
        cfg.teacher_path, cfg.synthetic_data, cfg.real_data = teacher_nemo, str(out / "synthetic"), str(
            out / "recordings")
        cfg.dmd = {"adversarial_weight": 0.25, "adversarial_real": "recordings", "fake_updates": 2,
                   "discriminator_weight": 0.5, "fake_weighting": "constant"}
        cfg.max_frames, cfg.val_utterances = None, 0
    model = DistributionMatchingDistillation(cfg)
    x0_real, cond, coarse, mask = model.real_window(2, torch.device("cpu"))
    marked = torch.full_like(cond, 7.0)
    monkeypatch.setattr(model, "real_window", lambda size, device: (
        torch.full_like(x0_real[:size], -1.0) * mask[:size], marked[:size], coarse[:size], mask[:size]))
    model.decoder.x0_prediction = lambda z_t, log_snr, cond, coarse, mask, **kw: torch.full_like(z_t, 2.0) * mask
    model.teacher_decoder.x0_prediction = lambda z_t, log_snr, cond, coarse, mask, **kw: torch.zeros_like(z_t)
    model.fake_decoder.x0_prediction = lambda z_t, log_snr, cond, coarse, mask, **kw: torch.zeros_like(z_t)
    seen = []

    def head(x, cond, coarse, mask):
        seen.append(float(cond.mean()) if cond.numel() else None)
        return x.sum(dim=(1, 2)) / mask.expand_as(x).sum(dim=(1, 2))

    model._logits = head
    losses = []
    model.optimizers = lambda: [torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0)] * 2
    model.manual_backward = lambda loss: None
    model.clip_gradients = lambda *args, **kwargs: None
    model.log = lambda name, value, **kwargs: losses.append((name, float(value)))
    return model, seen, losses


def test_the_head_calls_the_recordings_real_and_the_generator_on_their_conditioning_fake(
        recordings_run, teacher_nemo, corpus, monkeypatch):
    """A fake turn: the head scores ``softplus(D(fake)) + softplus(-D(real))`` with fake = the generator's sample (2)
    on the recordings' conditioning and real = the recordings (-1) on the same conditioning. Catches: real and fake
    swapped, the teacher's samples still called real, the generator run on the shards' conditioning."""
    from nemo_distill.data.synthetic_shards import collate
    from nemo_distill.models import DistributionMatchingDistillation

    model, seen, losses = _stub_model(recordings_run, teacher_nemo, monkeypatch)
    utterances = model._synthetic_utterances()
    batch = collate([utterances[i] for i in range(2)])
    monkeypatch.setattr(DistributionMatchingDistillation, "global_step", property(lambda self: 0))
    assert not model.generator_turn
    model.training_step(batch, 0)
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731
    assert dict(losses)["discriminator_loss"] == pytest.approx(softplus(2.0) + softplus(1.0), rel=1e-5)
    assert seen == [7.0, 7.0]  # both sides on the recordings' own conditioning


def test_the_generators_gan_term_is_scored_on_the_recordings_conditioning(recordings_run, teacher_nemo,
                                                                         monkeypatch):
    """A generator turn: the GAN term is ``softplus(-D(x))`` of the generator's sample on the recordings'
    conditioning. Catches: the term scored on the shards' conditioning, its sign flipped."""
    from nemo_distill.data.synthetic_shards import collate
    from nemo_distill.models import DistributionMatchingDistillation

    model, seen, losses = _stub_model(recordings_run, teacher_nemo, monkeypatch)
    utterances = model._synthetic_utterances()
    batch = collate([utterances[i] for i in range(2)])
    monkeypatch.setattr(DistributionMatchingDistillation, "global_step", property(lambda self: 2))
    assert model.generator_turn
    model.training_step(batch, 0)
    assert dict(losses)["adversarial_loss"] == pytest.approx(math.log1p(math.exp(-2.0)), rel=1e-5)
    assert seen == [7.0]

