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

"""The TTS benchmark's report: one table (markdown and CSV, every judge's columns) and the quality-vs-steps plots."""

from typing import Dict, List

from nemo_distill.eval.plots import label_steps_axis, save_figure

__all__ = ["DNSMOS_LABELS", "format_table", "plot_distillation", "plot_results", "table_rows", "write_csv"]


def _vocoder_columns(results: Dict[str, Dict], key: str = "wer") -> List[str]:
    """The vocoders with a ``key`` (``wer`` or ``dnsmos``) result in any row, in order of appearance."""
    names = []
    for result in results.values():
        for name in result.get(key, {}):
            if name not in names and name != "recording":
                names.append(name)
    return names


DNSMOS_LABELS = {"sig": "SIG", "bak": "BAK", "ovrl": "OVRL", "p808": "P.808"}


def _cell(value, digits):
    return "" if value is None else f"{value:.{digits}f}"


def table_rows(results: Dict[str, Dict]) -> List[List[str]]:
    """Header + one row per system, as strings (shared by the markdown and CSV writers)."""
    vocoder_names = _vocoder_columns(results)
    with_reference = any("l1_to_reference" in r for r in results.values())
    with_diversity = any("diversity" in r for r in results.values())
    dnsmos_names = _vocoder_columns(results, "dnsmos")
    header = ["system", "denoiser calls", "mel L1", "mel FD", *(["L1 to reference"] if with_reference else []),
              *(["diversity"] if with_diversity else []),
              *[f"WER {v}" for v in vocoder_names],
              *[f"{label} {v}" for v in dnsmos_names for label in DNSMOS_LABELS.values()], "ms / utt", "RTF"]
    rows = [header]
    for name, r in results.items():
        wer = r.get("wer", {})
        if r["kind"] == "recording":
            wers = [_cell(wer.get("recording"), 3)] * len(vocoder_names)
        else:
            wers = [_cell(wer.get(v), 3) for v in vocoder_names]
        reference = [_cell(r.get("l1_to_reference"), 4)] if with_reference else []
        reference += [_cell(r.get("diversity"), 4)] if with_diversity else []
        dnsmos = r.get("dnsmos", {})  # the recording's scores fill each vocoder's columns, as its WER does
        of = (lambda v: dnsmos.get("recording", {})) if r["kind"] == "recording" else (lambda v: dnsmos.get(v, {}))
        scores = [_cell(of(v).get(key), 2) for v in dnsmos_names for key in DNSMOS_LABELS]
        rows.append([name, _cell(r.get("denoiser_calls"), 0), _cell(r.get("mel_l1"), 4), _cell(r.get("mel_fd"), 2),
                     *reference, *wers, *scores, _cell(r.get("ms_per_utt"), 1), _cell(r.get("rtf"), 4)])
    return rows


def format_table(results: Dict[str, Dict], caption: str = "") -> str:
    rows = table_rows(results)
    lines = [caption] if caption else []
    lines.append("| " + " | ".join(rows[0]) + " |")
    lines.append("| --- |" + " ---: |" * (len(rows[0]) - 1))
    lines += ["| " + " | ".join(cell or "-" for cell in row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def write_csv(results: Dict[str, Dict], path: str) -> None:
    import csv

    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(table_rows(results))


def plot_results(results: Dict[str, Dict], path: str) -> None:
    """Quality vs steps, one curve per sampler, the non-diffusion rows as horizontal references."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [("mel_l1", "mel L1 to recording (GT durations)"), ("mel_fd", "Frechet distance of mel frames")]
    vocoder_names = _vocoder_columns(results)
    metrics += [(("wer", v), f"WER ({v})") for v in vocoder_names]

    def value(result, metric):
        if isinstance(metric, tuple):
            wer = result.get("wer", {})
            return wer.get("recording") if result["kind"] == "recording" else wer.get(metric[1])
        return result.get(metric)

    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    samplers = sorted({r["sampler"] for r in results.values() if r["kind"] == "diffusion"})
    for ax, (metric, label) in zip(axes[0], metrics):
        for sampler in samplers:
            points = sorted((r["steps"], value(r, metric)) for r in results.values() if r["sampler"] == sampler)
            ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=f"diffusion ({sampler})")
        for (name, r), style in zip(
            ((n, r) for n, r in results.items() if r["kind"] != "diffusion"), ("k:", "g--", "r--", "m-.", "c:")
        ):
            if value(r, metric) is not None:
                ax.axhline(value(r, metric), color=style[0], ls=style[1:], label=name)
        label_steps_axis(ax, label)
    save_figure(fig, path)


def plot_distillation(results: Dict[str, Dict], path: str) -> None:
    """Quality vs steps for the distillation report: teacher at full steps, teacher naive at k, the progressive
    students at k (curves), the other stages' students (DMD, consistency: markers), plain FastPitch as a reference
    line: where a student is both faster than the teacher and better than FastPitch. Diversity and the perceptual
    judge's P.808 and BAK (first vocoder) when measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [("mel_l1", "mel L1 to recording (GT durations)"), ("mel_fd", "Frechet distance of mel frames"),
               ("l1_to_reference", "mel L1 to the full-step teacher")]
    if any("diversity" in r for r in results.values()):
        metrics.append(("diversity", "diversity (mel L1 between seeds)"))
    metrics += [(("wer", v), f"WER ({v})") for v in _vocoder_columns(results)]
    metrics += [(("dnsmos", v, key), f"DNSMOS {DNSMOS_LABELS[key]} ({v})")
                for v in _vocoder_columns(results, "dnsmos")[:1] for key in ("p808", "bak")]

    def value(result, metric):
        if isinstance(metric, tuple) and metric[0] == "dnsmos":
            return result.get("dnsmos", {}).get(metric[1], {}).get(metric[2])
        if isinstance(metric, tuple):
            return result.get("wer", {}).get(metric[1])
        return result.get(metric)

    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    teacher = [r for r in results.values() if r.get("role") == "teacher"]
    others = sorted({r.get("role") for r in results.values()} - {None, "teacher", "naive", "student"})
    roles = [("naive", "s--"), ("student", "o-")] + list(zip(others, "D^vP<>X"))
    for ax, (metric, label) in zip(axes[0], metrics):
        for role, style in roles:
            points = sorted((r["steps"], value(r, metric)) for r in results.values() if r.get("role") == role
                            and value(r, metric) is not None)
            ax.plot([p[0] for p in points], [p[1] for p in points], style, label=f"{role} (k steps)")
        for r in teacher:
            if value(r, metric) is not None:
                ax.axhline(value(r, metric), color="k", ls=":", label=f"teacher ({r['steps']} steps)")
                ax.plot([r["steps"]], [value(r, metric)], "k*")
        for name, color, style in (("fastpitch", "r", "--"), ("recording_mel", "g", "-.")):
            reference = results.get(name)
            if reference is not None and value(reference, metric) is not None:
                ax.axhline(value(reference, metric), color=color, ls=style,
                           label={"fastpitch": "plain FastPitch", "recording_mel": "recording's mel"}[name])
        label_steps_axis(ax, label)
    save_figure(fig, path)
