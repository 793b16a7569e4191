"""``deepfort doctor``: what this machine has, what the configured models need, and what is wrong.

``hardware`` probes CPU, RAM, disk and GPUs; ``gguf`` reads model headers; ``fit`` sizes the local models
against RAM; ``recommend`` is the DeepSeek-R1 hardware table; ``checks`` and ``services`` are the pass/fail
checks; ``diagnose`` puts them together.
"""

from deepfort.doctor.diagnose import Diagnosis, diagnose

__all__ = ["Diagnosis", "diagnose"]
