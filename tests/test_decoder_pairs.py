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

"""scripts/decoder_pairs.py and scripts/train_decoder_on_pairs.py: a decoder trained on packed data, put back."""

import os

import pytest
import torch

from tts_fixtures import load_script


@pytest.fixture(scope="module")
def packed(voice, corpus, tmp_path_factory):
    pairs = load_script("decoder_pairs")
    root, manifest = corpus
    out = str(tmp_path_factory.mktemp("pairs") / "pairs.pt")
    pairs.main(["pack", "--voice", voice[2]["generator"], "--manifest", manifest, "--sup-data-path", f"{root}/sup",
                "--out", out])
    return out


def test_the_packed_data_is_the_teacher_forced_data_of_every_recording(packed, corpus):
    from nemo_distill.data.recording_shards import RecordingUtterances

    data = torch.load(packed, weights_only=False)
    recordings = RecordingUtterances(packed + ".shards")
    with open(corpus[1], encoding="utf-8") as f:
        assert len(recordings) == len(data["lengths"]) == sum(1 for line in f if line.strip())
    cond = torch.repeat_interleave(data["cond_columns"].float(), data["cond_counts"].long(), dim=1)
    assert data["cond_columns"].shape[1] < cond.shape[1]  # the run-length code is shorter than the frames
    start = 0
    for (c, coarse, mel, _), length in zip(recordings, data["lengths"].tolist()):
        for packed_part, whole in ((cond, c), (data["coarse"].float(), coarse), (data["mel"].float(), mel)):
            torch.testing.assert_close(packed_part[:, start: start + length], whole, rtol=1e-3, atol=1e-2)  # float16
        start += length
    assert start == cond.shape[1] == data["mel"].shape[1]


def test_training_on_the_pairs_lowers_the_decoders_loss_and_the_voice_takes_the_decoder(packed, voice, tmp_path):
    from nemo_distill.models import DiffusionSpectrogramGenerator

    trainer = load_script("train_decoder_on_pairs")
    data = torch.load(packed, weights_only=False)
    recordings = trainer.PackedRecordings(data, torch.device("cpu"))
    batch = recordings.batch(torch.arange(len(recordings)))

    def held_out_loss(decoder):  # the same noise, times and windows for every call
        decoder.eval()
        with torch.no_grad():
            return float(decoder.loss(*batch, generator=torch.Generator().manual_seed(5)))

    out = str(tmp_path / "runs")
    summary = trainer.train(trainer.parse_args(["--data", packed, "--name", "v", "--max-steps", "40", "--lr", "0.05",
                                                "--batch-size", "2", "--out-dir", out, "--snapshot-steps", "20",
                                                "--device", "cpu", "--log-every", "10"]))
    assert summary["steps"] == 40 and [os.path.basename(p) for p in summary["snapshots"]] == ["v_20.pt", "v_40.pt"]
    trained, _ = trainer.build_decoder(data, [])
    snapshot = torch.load(summary["snapshots"][-1], weights_only=False)
    trained.load_state_dict(snapshot["decoder"])
    torch.manual_seed(0)  # the training's seed: the weights it started from
    fresh, _ = trainer.build_decoder(data, [])
    fresh.residual_scale.copy_(trained.residual_scale)  # the same x0 scale, so both losses measure the same target
    assert held_out_loss(trained) < 0.9 * held_out_loss(fresh)
    assert snapshot["step"] == 40 and len(open(os.path.join(out, "v.jsonl")).read().splitlines()) == 4

    pairs = load_script("decoder_pairs")
    new_voice = str(tmp_path / "new.nemo")
    pairs.main(["install", "--voice", voice[2]["generator"], "--decoder", summary["snapshots"][-1], "--out",
                new_voice])
    restored = DiffusionSpectrogramGenerator.restore_from(new_voice).decoder.state_dict()
    assert all(torch.equal(restored[k], v.float()) for k, v in snapshot["decoder"].items())
    with pytest.raises(SystemExit):  # never over a file
        pairs.parse_args(["install", "--voice", voice[2]["generator"], "--decoder", summary["snapshots"][-1],
                          "--out", new_voice])


def test_another_denoiser_size_is_installed_with_its_config(packed, voice, tmp_path):
    from nemo_distill.models import DiffusionSpectrogramGenerator

    trainer = load_script("train_decoder_on_pairs")
    summary = trainer.train(trainer.parse_args(["--data", packed, "--name", "big", "--max-steps", "2", "--out-dir",
                                                str(tmp_path), "--set", "denoiser.channels=48", "--set",
                                                "denoiser.num_blocks=3", "--save-dtype", "float16", "--device",
                                                "cpu"]))
    pairs = load_script("decoder_pairs")
    out = str(tmp_path / "big.nemo")
    pairs.main(["install", "--voice", voice[2]["generator"], "--decoder", summary["snapshots"][-1], "--out", out])
    restored = DiffusionSpectrogramGenerator.restore_from(out)
    assert (restored.cfg.diffusion.denoiser.channels, restored.decoder.denoiser.num_blocks) == (48, 3)
    with pytest.raises(ValueError, match="no key 'denoiser.chanels'"):
        trainer.build_decoder(torch.load(packed, weights_only=False), ["denoiser.chanels=48"])


def test_a_snapshot_of_another_voice_is_refused_before_anything_is_written(packed, voice, tmp_path):
    trainer = load_script("train_decoder_on_pairs")
    summary = trainer.train(trainer.parse_args(["--data", packed, "--name", "v", "--max-steps", "1", "--out-dir",
                                                str(tmp_path), "--device", "cpu"]))
    snapshot = torch.load(summary["snapshots"][0], weights_only=False)
    snapshot["voice_sha256"] = "0" * 64
    other = str(tmp_path / "other.pt")
    torch.save(snapshot, other)
    pairs = load_script("decoder_pairs")
    out = str(tmp_path / "x.nemo")
    with pytest.raises(SystemExit, match="another voice"):
        pairs.main(["install", "--voice", voice[2]["generator"], "--decoder", other, "--out", out])
    assert not os.path.exists(out)


def test_a_run_goes_on_from_its_snapshot(packed, tmp_path):
    trainer = load_script("train_decoder_on_pairs")
    first = trainer.train(trainer.parse_args(["--data", packed, "--name", "v", "--max-steps", "3", "--out-dir",
                                              str(tmp_path), "--device", "cpu", "--set", "denoiser.channels=24"]))
    again = trainer.train(trainer.parse_args(["--data", packed, "--name", "v", "--max-steps", "5", "--out-dir",
                                              str(tmp_path), "--device", "cpu", "--init", first["snapshots"][-1]]))
    assert again["steps"] == 5 and again["snapshots"][-1].endswith("v_5.pt")  # steps 4 and 5: the count goes on
    start = torch.load(first["snapshots"][-1], weights_only=False)
    end = torch.load(again["snapshots"][-1], weights_only=False)
    assert end["diffusion"]["denoiser"]["channels"] == 24  # the snapshot's config, not the packed voice's
    assert any(not torch.equal(start["decoder"][k], end["decoder"][k]) for k in start["decoder"])
    with pytest.raises(SystemExit):
        trainer.parse_args(["--data", packed, "--name", "v", "--max-steps", "5", "--out-dir", str(tmp_path),
                            "--init", first["snapshots"][-1], "--set", "denoiser.channels=32"])
    with pytest.raises(SystemExit):  # the same name again from scratch: its snapshots are left as they are
        trainer.parse_args(["--data", packed, "--name", "v", "--max-steps", "5", "--out-dir", str(tmp_path)])
    with pytest.raises(FileExistsError, match="v_5.pt"):  # nothing is written over
        trainer.train(trainer.parse_args(["--data", packed, "--name", "v", "--max-steps", "5", "--out-dir",
                                          str(tmp_path), "--device", "cpu", "--init", first["snapshots"][-1]]))
