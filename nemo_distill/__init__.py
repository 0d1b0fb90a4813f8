"""nemo_distill: diffusion text-to-speech for NVIDIA NeMo, and the distillation that makes it fast.

Importing this package registers it with NeMo's config-target allow-list (see :mod:`nemo_distill.registration`).
The models live in :mod:`nemo_distill.models` (imports NeMo); the math in :mod:`nemo_distill.diffusion` (does not).
"""

from nemo_distill.registration import register_with_nemo

__version__ = "0.1.0"

register_with_nemo()
