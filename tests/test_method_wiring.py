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

"""Each distillation method's wiring, on its real ModelPT, with stub denoisers whose outputs are known.

The plumbing tests (files, lineage, resume, weights moved, finite losses) pass whatever a method trains towards; these
pin what it trains towards, exactly: the student's prediction is a scalar parameter ``p`` (zero), the teacher's and
the other networks' predictions are constants (or read off their inputs), the loss weighting is ``constant``, so a
method's loss and its gradient have closed forms. Each test names the wrong wiring it catches (the note of issue 31
lists each break planted and the test that failed on it).
"""

import math

import pytest
import torch
from omegaconf import open_dict


@pytest.fixture(scope="module")
def shards(teacher_nemo, corpus, tmp_path_factory):
    """The tiny teacher's synthetic shards (6 utterances) and the rounds' model config."""
    from nemo_distill.distillation import run_distillation
    from nemo_distill.utils.config import compose_config

    out = tmp_path_factory.mktemp("wiring")
    cfg = compose_config("distillation_tiny", [f"teacher={teacher_nemo}", f"texts={corpus[1]}", f"out_dir={out}",
                                               "generate_only=true"])
    run_distillation(cfg)
    return str(out / "synthetic"), cfg.model


def _model(model_class, shards, teacher_nemo, **keys):
    synthetic, base = shards
    cfg = base.copy()
    with open_dict(cfg):
        cfg.teacher_path, cfg.teacher_steps, cfg.synthetic_data = teacher_nemo, 8, synthetic
        cfg.weighting, cfg.max_frames, cfg.val_utterances = "constant", None, 0
        for key, value in keys.items():
            cfg[key] = value
    return model_class(cfg)


def _batch(model):
    from nemo_distill.data.synthetic_shards import collate

    utterances = model._synthetic_utterances()
    return collate([utterances[i] for i in range(4)])


class Recorder:
    """A stub x0-denoiser: ``value(z_t, log_snr, kwargs)`` on the valid frames; remembers every call."""

    def __init__(self, value):
        self.value, self.calls = value, []

    def __call__(self, z_t, log_snr, cond, coarse, mask, **kwargs):
        self.calls.append({"z_t": z_t.detach().clone(), "log_snr": log_snr.detach().clone(), **kwargs})
        return self.value(z_t, log_snr, kwargs).expand_as(z_t) * mask


def _constant(c):
    return Recorder(lambda z_t, log_snr, kwargs: torch.full_like(z_t, float(c)))


def _student(model):
    """The student's prediction becomes one parameter ``p`` = 0 everywhere: the loss is a closed form of the target."""
    p = torch.zeros((), requires_grad=True)
    stub = Recorder(lambda z_t, log_snr, kwargs: p + torch.zeros_like(z_t))
    model.decoder.x0_prediction = stub
    return p, stub


def _valid_mean(values, batch, model):
    """The loss of a constant-weighted method for a student at 0: the mean over utterances of the masked mean of
    ``values^2``."""
    x0, _, _, mask = model._window(batch)
    mask = mask.expand_as(x0)
    return torch.stack([values[b][mask[b]].pow(2).mean() for b in range(x0.shape[0])]).mean()


# ----------------------------------------------------------------------------------------- progressive rounds
def test_progressive_target_is_the_teachers_two_step_landing(shards, teacher_nemo):
    """A teacher that always predicts x0 = c lands, in two DDIM steps t -> t' -> s, where one step with x0 = c
    lands: the student's target is exactly c at every step of the grid. Catches: the target computed for the
    midpoint (or any wrong level) instead of s, the student's own prediction used as the teacher, the loss's sign."""
    from nemo_distill.models import ProgressiveDistillationModel

    model = _model(ProgressiveDistillationModel, shards, teacher_nemo)
    p, student = _student(model)
    model.teacher_decoder.x0_prediction = teacher = _constant(2.0)
    torch.manual_seed(0)
    for _ in range(3):
        loss = model.distillation_loss(_batch(model))
        assert float(loss) == pytest.approx(4.0, rel=1e-4)  # |0 - 2|^2
        p.grad = None
        loss.backward()
        assert float(p.grad) == pytest.approx(-4.0, rel=1e-4)  # descent moves p towards the target 2
    # two teacher calls per student call, the first at the student's own state and level
    assert len(teacher.calls) == 2 * len(student.calls)
    assert torch.equal(teacher.calls[0]["z_t"], student.calls[0]["z_t"])
    assert torch.equal(teacher.calls[0]["log_snr"], student.calls[0]["log_snr"])


# ------------------------------------------------------------------------------------------- guidance folding
def test_guidance_folding_learns_the_prediction_guided_at_the_configured_scale(shards, teacher_nemo):
    """The teacher predicts ``1 + guidance_scale``: at scale 2 the target is 3. Catches: the scale ignored (target 1)
    or another scale passed, the target taken from the student."""
    from nemo_distill.models import GuidanceFoldingModel

    model = _model(GuidanceFoldingModel, shards, teacher_nemo, guidance_scale=2.0)
    p, _ = _student(model)
    model.teacher_decoder.x0_prediction = teacher = Recorder(
        lambda z_t, log_snr, kwargs: torch.full_like(z_t, 1.0 + kwargs.get("guidance_scale", 0.0)))
    loss = model.distillation_loss(_batch(model))
    assert float(loss) == pytest.approx(9.0, rel=1e-5)
    loss.backward()
    assert float(p.grad) == pytest.approx(-6.0, rel=1e-5)
    assert [call["guidance_scale"] for call in teacher.calls] == [2.0]


# ---------------------------------------------------------------------------------------- layer distillation
def test_layer_distillation_matches_the_full_depth_prediction_at_each_budget(shards, teacher_nemo):
    """The frozen model predicts its own block count: at full depth (4 blocks) the target is 4, the data x0 never.
    Catches: matching the data x0 instead of the full depth, the frozen model run at the student's budget, budgets
    drawn outside ``layers.budgets`` + full depth, the denoising term's weight ignored."""
    from nemo_distill.models import LayerDistillationModel

    layers = {"budgets": [2, 3], "rescale": "sqrt", "denoising_weight": 0.0}
    model = _model(LayerDistillationModel, shards, teacher_nemo, layers=layers)
    p, student = _student(model)
    model.teacher_decoder.x0_prediction = teacher = Recorder(
        lambda z_t, log_snr, kwargs: torch.full_like(z_t, float(kwargs["layer_budget"])))
    torch.manual_seed(0)
    batch = _batch(model)
    for _ in range(12):
        loss = model.distillation_loss(batch)
        assert float(loss) == pytest.approx(16.0, rel=1e-5)
    assert {call["layer_budget"] for call in teacher.calls} == {4}
    assert {call["layer_budget"] for call in student.calls} == {2, 3, 4}
    with open_dict(model._cfg):
        model._cfg.layers.denoising_weight = 0.5
    x0 = model._window(batch)[0]
    expected = 16.0 + 0.5 * float(_valid_mean(x0, batch, model))  # + the data term, at its weight
    assert float(model.distillation_loss(batch)) == pytest.approx(expected, rel=1e-5)


# -------------------------------------------------------------------------------------- consistency distillation
def test_consistency_target_is_the_ema_one_teacher_step_down_and_the_teacher_at_the_clean_end(shards, teacher_nemo):
    """Teacher x0 = 1, EMA x0 = its input level (log-SNR): the EMA must be called at the teacher's DDIM result, one
    grid level below the student's, and the clean end's target is the teacher's result (1). Catches: the teacher or
    the student in place of the EMA, the EMA at ``z_t`` or at the student's level, no boundary condition."""
    from nemo_distill.diffusion import ddim_step, sampling_log_snrs
    from nemo_distill.models import ConsistencyDistillationModel

    grid = 4
    model = _model(ConsistencyDistillationModel, shards, teacher_nemo,
                   consistency={"steps": 1, "grid_steps": grid, "ema_decay": 0.9})
    p, student = _student(model)
    model.teacher_decoder.x0_prediction = teacher = _constant(1.0)
    model.ema_decoder.x0_prediction = ema = Recorder(lambda z_t, log_snr, kwargs: log_snr[:, None, None].clone())
    settings = model.decoder.settings
    levels = sampling_log_snrs(settings.schedule, grid, t_start=settings.t_start).tolist()
    batch = _batch(model)
    torch.manual_seed(1)
    seen_clean = seen_inner = False
    for _ in range(8):
        student.calls.clear(), teacher.calls.clear(), ema.calls.clear()
        loss = model.distillation_loss(batch)
        z_t, log_snr_t = student.calls[0]["z_t"], student.calls[0]["log_snr"]
        assert torch.equal(teacher.calls[0]["z_t"], z_t) and torch.equal(teacher.calls[0]["log_snr"], log_snr_t)
        targets = []
        for b, level in enumerate(log_snr_t.tolist()):
            i = min(range(grid), key=lambda k: abs(levels[k] - level))
            assert level == pytest.approx(levels[i], rel=1e-5)  # the student sits on the teacher's grid
            if math.isinf(levels[i + 1]):
                targets.append(1.0)  # the clean end: the teacher's DDIM result itself
                seen_clean = True
            else:
                assert float(ema.calls[0]["log_snr"][b]) == pytest.approx(levels[i + 1], rel=1e-5)
                targets.append(levels[i + 1])
                seen_inner = True
        if ema.calls:  # the EMA sees the teacher's DDIM step from z_t
            s = ema.calls[0]["log_snr"]
            expected_z = ddim_step(torch.ones_like(z_t), z_t, log_snr_t, s) * model._window(batch)[3]
            inner = torch.tensor([not math.isinf(levels[min(range(grid), key=lambda k: abs(levels[k] - v)) + 1])
                                  for v in log_snr_t.tolist()])
            assert torch.allclose(ema.calls[0]["z_t"][inner], expected_z[inner], atol=1e-5)
        target = torch.tensor(targets)[:, None, None].expand_as(z_t)
        assert float(loss) == pytest.approx(float(_valid_mean(target, batch, model)), rel=1e-4)
    assert seen_clean and seen_inner


def test_the_consistency_ema_follows_the_student_at_its_decay(shards, teacher_nemo):
    """After each optimizer step ``ema = 0.9 ema + 0.1 student``. Catches: an EMA that never updates, the decay and
    its complement swapped, the EMA copied from the teacher."""
    from nemo_distill.models import ConsistencyDistillationModel

    model = _model(ConsistencyDistillationModel, shards, teacher_nemo,
                   consistency={"steps": 1, "grid_steps": 4, "ema_decay": 0.9})
    with torch.no_grad():
        for parameter in model.decoder.parameters():
            parameter.add_(1.0)
    before = [p.detach().clone() for p in model.ema_decoder.parameters()]
    model.on_train_batch_end(None, None, 0)
    for old, ema, online in zip(before, model.ema_decoder.parameters(), model.decoder.parameters()):
        assert torch.allclose(ema, 0.9 * old + 0.1 * online, atol=1e-6)
    assert any(not torch.equal(old, ema) for old, ema in zip(before, model.ema_decoder.parameters()))


# -------------------------------------------------------------------------------------- distribution matching
def _dmd(shards, teacher_nemo, **dmd):
    from nemo_distill.models import DistributionMatchingDistillation

    settings = {"steps": 1, "fake_updates": 2, "fake_weighting": "constant", **dmd}
    return _model(DistributionMatchingDistillation, shards, teacher_nemo, dmd=settings,
                  optim={"lr": 1e-3, "betas": [0.9, 0.999], "weight_decay": 0.0})


def _dmd_inputs(model):
    batch = _batch(model)
    x0_teacher, cond, coarse, mask = model._window(batch)
    return batch, x0_teacher, cond, coarse, mask


def test_the_dmd_gradient_points_from_the_fake_to_the_real_denoiser(shards, teacher_nemo):
    """Real (teacher) x0 = 1, fake x0 = 3, the generator's sample x = 0: the gradient on x is ``(3 - 1) / |0 - 1|``
    per valid element (over their count and the batch), so a descent step moves x by ``real - fake``. Catches: real
    and fake swapped (sign flips), the guidance scale of the real denoiser ignored."""
    model = _dmd(shards, teacher_nemo, guidance_scale=0.5)
    batch, x0_teacher, cond, coarse, mask = _dmd_inputs(model)
    model.teacher_decoder.x0_prediction = real = Recorder(
        lambda z_t, log_snr, kwargs: torch.full_like(z_t, 1.0 + 0.0 * kwargs.get("guidance_scale", 0.0)))
    model.fake_decoder.x0_prediction = _constant(3.0)
    x = torch.zeros_like(x0_teacher, requires_grad=True)
    losses = model.generator_loss(x, x0_teacher, cond, coarse, mask, None)
    assert set(losses) == {"dmd_loss", "loss"}
    losses["loss"].backward()
    valid = mask.expand_as(x).bool()
    counts = valid.sum(dim=(1, 2)).to(x.dtype)[:, None, None]
    scaled = x.grad * counts * x.shape[0]
    assert torch.allclose(scaled[valid], torch.full_like(scaled[valid], 2.0), rtol=1e-4)
    assert torch.all(x.grad[~valid] == 0)
    assert [call["guidance_scale"] for call in real.calls] == [0.5]


def test_the_fake_denoiser_learns_the_generators_samples_and_the_head_tells_them_from_the_teachers(
        shards, teacher_nemo):
    """Generator samples x = 2, teacher samples = -1, the fake predicts p = 0: its loss is |0 - 2|^2 = 4 (not the
    teacher's 1); the head (a stub: the mean of its input) scores ``softplus(D(fake)) + softplus(-D(real))``.
    Catches: the fake denoiser trained on the teacher's samples, real and fake swapped in the discriminator, the
    discriminator's sign flipped."""
    model = _dmd(shards, teacher_nemo, adversarial_weight=0.1, discriminator_weight=0.5)
    batch, x0_teacher, cond, coarse, mask = _dmd_inputs(model)
    p = torch.zeros((), requires_grad=True)
    model.fake_decoder.x0_prediction = Recorder(lambda z_t, log_snr, kwargs: p + torch.zeros_like(z_t))
    model._logits = lambda x, cond, coarse, mask: x.sum(dim=(1, 2)) / mask.expand_as(x).sum(dim=(1, 2))
    x = torch.full_like(x0_teacher, 2.0) * mask
    teacher_samples = torch.full_like(x0_teacher, -1.0) * mask
    losses = model.fake_loss(x, teacher_samples, cond, coarse, mask)
    assert float(losses["fake_loss"]) == pytest.approx(4.0, rel=1e-5)
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731
    assert float(losses["discriminator_loss"]) == pytest.approx(softplus(2.0) + softplus(1.0), rel=1e-5)
    assert float(losses["loss"]) == pytest.approx(4.0 + 0.5 * (softplus(2.0) + softplus(1.0)), rel=1e-5)
    losses["loss"].backward()
    assert float(p.grad) == pytest.approx(-4.0, rel=1e-5)  # towards the generator's samples


def test_the_generators_adversarial_term_wants_its_samples_called_real(shards, teacher_nemo):
    """The generator's GAN term is ``softplus(-D(x))`` for its own samples x: with D the mean of x = 2 it is
    softplus(-2), and its gradient raises D(x). Catches: the GAN sign flipped, the term scored on the teacher's
    samples, its weight ignored."""
    model = _dmd(shards, teacher_nemo, adversarial_weight=0.25)
    batch, x0_teacher, cond, coarse, mask = _dmd_inputs(model)
    model.teacher_decoder.x0_prediction = _constant(0.0)
    model.fake_decoder.x0_prediction = _constant(0.0)  # no DMD gradient: real == fake
    model._logits = lambda x, cond, coarse, mask: x.sum(dim=(1, 2)) / mask.expand_as(x).sum(dim=(1, 2))
    x = (torch.full_like(x0_teacher, 2.0) * mask).requires_grad_(True)
    losses = model.generator_loss(x, torch.full_like(x0_teacher, -1.0) * mask, cond, coarse, mask, None)
    softplus_minus_2 = math.log1p(math.exp(-2.0))
    assert float(losses["adversarial_loss"]) == pytest.approx(softplus_minus_2, rel=1e-5)
    assert float(losses["loss"]) == pytest.approx(0.25 * softplus_minus_2, rel=1e-5)
    losses["loss"].backward()
    assert float(x.grad[mask.expand_as(x).bool()].sum()) < 0  # descent raises D(x): "call it real"


def test_the_regression_term_pairs_the_generator_with_the_noise_of_the_teachers_sample(shards, teacher_nemo,
                                                                                       monkeypatch):
    """A generator turn of ``training_step`` with ``regression_weight``: the generator is run, at its last step, from
    each utterance's own shard noise (the noise the teacher's sample came from), and compared with that sample.
    Catches: the regression paired with fresh noise, or with another utterance's, or the turn order changed."""
    from nemo_distill.models import DistributionMatchingDistillation

    model = _dmd(shards, teacher_nemo, regression_weight=0.5)
    batch = _batch(model)
    calls = []
    generate = model.generate

    def spy(cond, coarse, mask, noise, step=None, grad=False):
        calls.append({"noise": noise.detach().clone(), "step": step, "grad": grad})
        return generate(cond, coarse, mask, noise, step=step, grad=grad)

    model.generate = spy
    optimizers = [torch.optim.SGD(model.decoder.parameters(), lr=0.0), torch.optim.SGD(
        model.fake_decoder.parameters(), lr=0.0)]
    model.optimizers = lambda: optimizers
    model.manual_backward = lambda loss: loss.backward()
    model.clip_gradients = lambda *args, **kwargs: None
    model.log = lambda *args, **kwargs: None
    for step, turn in [(0, "fake"), (1, "fake"), (2, "generator")]:  # fake_updates = 2: two fake turns, then one
        monkeypatch.setattr(DistributionMatchingDistillation, "global_step", property(lambda self, s=step: s))
        assert model.generator_turn == (turn == "generator")
        calls.clear()
        model.training_step(batch, 0)
        if turn == "fake":
            assert len(calls) == 1 and not calls[0]["grad"]
    expected = model.utterance_noise(batch)
    paired = [c for c in calls if c["step"] == 0 and c["grad"] and torch.equal(c["noise"], expected)]
    assert len(calls) == 2 and len(paired) == 1  # the generator's sample (fresh noise) and the paired one


def test_the_dmd_turns_alternate_on_one_step_counter():
    from nemo_distill.diffusion import dmd_generator_turn

    assert [dmd_generator_turn(step, 2) for step in range(7)] == [False, False, True, False, False, True, False]
    assert [dmd_generator_turn(step, 1) for step in range(4)] == [False, True, False, True]
