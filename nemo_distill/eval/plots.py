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

"""Shared figure helpers of the benchmark reports (matplotlib, Agg backend)."""

__all__ = ["label_steps_axis", "save_figure"]


def label_steps_axis(ax, label: str) -> None:
    """Sampling steps on a log2 x axis, ``label`` on y, a small legend."""
    ax.set_xscale("log", base=2)
    ax.set_xlabel("sampling steps (denoiser calls)")
    ax.set_ylabel(label)
    ax.legend(fontsize=7)


def save_figure(fig, path: str) -> None:
    """Write ``fig`` to ``path`` (tight layout, 120 dpi) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
