"""Compose this package's Hydra configs from Python (tests, notebooks) the way ``hydra_runner`` does for scripts."""

import os
from typing import Sequence

from omegaconf import DictConfig

__all__ = ["CONF_DIR", "compose_config"]

CONF_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "conf")


def compose_config(name: str, overrides: Sequence[str] = (), config_dir: str = CONF_DIR) -> DictConfig:
    """The config ``config_dir/name.yaml`` with its ``defaults`` resolved and Hydra-style ``overrides`` applied."""
    from hydra import compose, initialize_config_dir

    if not os.path.isfile(os.path.join(config_dir, f"{name}.yaml")):
        raise FileNotFoundError(f"no config {name}.yaml in {config_dir}")
    with initialize_config_dir(config_dir=os.path.abspath(config_dir), version_base=None):
        return compose(config_name=name, overrides=list(overrides))
