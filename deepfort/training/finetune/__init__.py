"""``deepfort finetune``: LoRA on a GGUF or Hugging Face model, exported as a GGUF LoRA adapter.

Needs the ``train`` extra (torch, transformers, peft, accelerate, gguf); import the modules here only
once it is installed (``deepfort/cli/finetune.py`` checks). ``data`` is pure (no torch).
"""
