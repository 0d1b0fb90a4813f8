"""Benchmark a DiffusionSpectrogramGenerator against its own FastPitch decoder, at several step counts.

    python scripts/benchmark.py MODEL.nemo --manifest corpus/test_manifest.json --sup-data-path corpus/sup_data \
        --steps 1 2 4 8 16 32 64 --out-dir outputs/benchmark

For every row (FastPitch's regression decoder; the diffusion decoder at each step count):
  * mel L1 to the recording with ground-truth (aligner) durations, so frames line up;
  * WER of Griffin-Lim audio from free-running synthesis, judged by offline Whisper tiny.en (if installed);
  * denoiser calls and ms per utterance of free-running synthesis, real-time factor.
Prints one table, writes it (table.md, results.json) and a plot of quality vs steps (benchmark.png).
"""

import argparse
import json
import os
import time

import numpy as np
import torch
from omegaconf import open_dict

import nemo_distill  # noqa: F401
from nemo_distill.eval.griffin_lim import griffin_lim
from nemo_distill.eval.tts_metrics import WhisperJudge, masked_mel_l1, teacher_forced_batches, word_error_rate
from nemo_distill.models import DiffusionSpectrogramGenerator


def _load_manifest(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--sup-data-path", required=True)
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument("--sampler", default="ddim")
    parser.add_argument("--out-dir", default="outputs/benchmark")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-wer", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--t-start", type=float, default=None,
                        help="< 1: shallow diffusion from the noised coarse mel (default: the model's diffusion.t_start)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    try:
        model = DiffusionSpectrogramGenerator.from_nemo(args.model)
    except ValueError as error:
        raise SystemExit(str(error))
    val_cfg = model.cfg.validation_ds.copy()
    with open_dict(val_cfg):
        val_cfg.dataset.manifest_filepath = args.manifest
        val_cfg.dataset.sup_data_path = args.sup_data_path
        val_cfg.dataloader_params.batch_size = 4
        val_cfg.dataloader_params.shuffle = False
    model.setup_validation_data(val_cfg)
    rows = _load_manifest(args.manifest)
    judge = None if args.no_wer else WhisperJudge()

    systems = [("fastpitch", None)] + [(f"diffusion_{k}", k) for k in args.steps]
    results = {name: {"steps": k or 0, "mel_l1": []} for name, k in systems}
    for cond, coarse, target, lengths in teacher_forced_batches(model, model._validation_dl):
        for name, k in systems:
            if k is None:
                mel = coarse
            else:
                mel = model.decode_spectrogram(cond, coarse, lengths, steps=k, sampler=args.sampler, seed=args.seed,
                                               t_start=args.t_start)
            results[name]["mel_l1"].extend(masked_mel_l1(mel, target, lengths).tolist())

    frame_seconds = model.cfg.n_window_stride / model.cfg.sample_rate
    for name, k in systems:
        hypotheses, seconds, audio_seconds = [], 0.0, 0.0
        for i, row in enumerate(rows):
            tokens, _ = model.parse_batch([row["text"]])
            start = time.perf_counter()
            if k is None:
                mel = model.generate_coarse_spectrogram(tokens)
                length = mel.shape[-1]
            else:
                mels, lengths = model.generate_spectrogram(tokens, steps=k, sampler=args.sampler, seed=args.seed + i,
                                                           t_start=args.t_start, return_lengths=True)
                mel, length = mels, int(lengths[0])
            seconds += time.perf_counter() - start
            audio_seconds += length * frame_seconds
            if judge is not None:
                audio = griffin_lim(mel[0, :, :length].numpy(), model.cfg.preprocessor)
                hypotheses.append(judge.transcribe(audio, model.cfg.sample_rate))
        result = results[name]
        result["mel_l1"] = float(np.mean(result["mel_l1"]))
        result["ms_per_utt"] = 1000 * seconds / len(rows)
        result["rtf"] = seconds / audio_seconds
        result["denoiser_calls"] = k or 0
        result["wer"] = word_error_rate([r["text"] for r in rows], hypotheses) if judge is not None else None
        if judge is not None:
            result["examples"] = hypotheses[:3]

    lines = [
        f"{len(rows)} utterances from {args.manifest}; sampler {args.sampler}; t_start {args.t_start or 'model'}; "
        f"torch threads {args.threads}; "
        "mel L1 with ground-truth durations; WER of Griffin-Lim audio by Whisper tiny.en",
        "| system | denoiser calls | mel L1 | WER | ms / utt | RTF |", "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, _ in systems:
        r = results[name]
        wer = "n/a" if r["wer"] is None else f"{r['wer']:.3f}"
        lines.append(f"| {name} | {r['denoiser_calls']} | {r['mel_l1']:.4f} | {wer} | {r['ms_per_utt']:.1f} | {r['rtf']:.4f} |")
    table = "\n".join(lines)
    print(table)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "table.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(args.out_dir, "results.json"), "w") as f:
        json.dump({"model": args.model, "manifest": args.manifest, "results": results}, f, indent=2)
    _plot(results, systems, os.path.join(args.out_dir, "benchmark.png"))


def _plot(results, systems, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [k for _, k in systems if k]
    metrics = [("mel_l1", "mel L1 to recording (GT durations)")]
    if results["fastpitch"]["wer"] is not None:
        metrics.append(("wer", "WER (Griffin-Lim, Whisper tiny.en)"))
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
    for ax, (metric, label) in zip(axes[0], metrics):
        ax.plot(steps, [results[f"diffusion_{k}"][metric] for k in steps], "o-", label="diffusion decoder")
        ax.axhline(results["fastpitch"][metric], color="gray", ls="--", label="FastPitch decoder")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("sampling steps")
        ax.set_ylabel(label)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
