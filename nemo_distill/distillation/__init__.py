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

"""Distillation as a whole: the registry of methods, the plan of rounds, the teacher's synthetic data over DDP
ranks, and the round runner (each round trains its method's model class).

    from nemo_distill.distillation import run_distillation   # conf/distillation.yaml, scripts/distill.py
"""

from nemo_distill.distillation.methods import METHODS, DistillationMethod, method_named, register_method
from nemo_distill.distillation.plan import Round, plan_from_config, plan_rounds
from nemo_distill.distillation.rounds import run_distillation
from nemo_distill.distillation.synthetic_data import SyntheticDataGenerator, generate_synthetic_data, read_texts

__all__ = ["METHODS", "DistillationMethod", "Round", "SyntheticDataGenerator", "generate_synthetic_data",
           "method_named", "plan_from_config", "plan_rounds", "read_texts", "register_method", "run_distillation"]
