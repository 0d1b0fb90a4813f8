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

"""Compose this package's Hydra configs from Python (tests, notebooks) the way ``hydra_runner`` does for scripts."""

import os
from typing import Sequence

from omegaconf import DictConfig

__all__ = ["CONF_DIR", "DEPRECATED_CONFIG_NAMES", "compose_config", "warn_if_deprecated_config"]

# former config names -> today's (their files are two-line shims over today's)
DEPRECATED_CONFIG_NAMES = {"progressive_distillation": "distillation",
                           "progressive_distillation_tiny": "distillation_tiny"}

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# installed from a wheel: nemo_distill/conf; in a checkout (or an editable install): the repository's conf/
CONF_DIR = next((d for d in (os.path.join(_PACKAGE, "conf"), os.path.join(os.path.dirname(_PACKAGE), "conf"))
                 if os.path.isdir(d)), os.path.join(os.path.dirname(_PACKAGE), "conf"))


def compose_config(name: str, overrides: Sequence[str] = (), config_dir: str = CONF_DIR) -> DictConfig:
    """The config ``config_dir/name.yaml`` with its ``defaults`` resolved and Hydra-style ``overrides`` applied."""
    from hydra import compose, initialize_config_dir

    warn_if_deprecated_config(name)
    if not os.path.isfile(os.path.join(config_dir, f"{name}.yaml")):
        raise FileNotFoundError(f"no config {name}.yaml in {config_dir}")
    with initialize_config_dir(config_dir=os.path.abspath(config_dir), version_base=None):
        return compose(config_name=name, overrides=list(overrides))


def warn_if_deprecated_config(name: str) -> None:
    """A ``DeprecationWarning`` (and a log line) naming today's config when ``name`` is a former one."""
    if name in DEPRECATED_CONFIG_NAMES:
        import warnings

        message = (f"config {name!r} is deprecated: it is now {DEPRECATED_CONFIG_NAMES[name]!r} (the old name "
                   "still works for now)")
        warnings.warn(message, DeprecationWarning, stacklevel=3)
        try:
            from nemo.utils import logging

            logging.warning(message)
        except ImportError:  # pragma: no cover - NeMo is a dependency
            pass
