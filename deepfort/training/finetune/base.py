"""The model a fine-tune starts from: a Hugging Face directory or a GGUF, with its tokenizer and the chat
template the server would render it with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from deepfort.engines.llamacpp.template import CHATML_TEMPLATE, ChatTemplate
from deepfort.errors import ConfigError

__all__ = ["BaseModel", "load_base"]


@dataclass
class BaseModel:
    model: Any
    """A transformers causal LM in float32."""
    tokenizer: Any
    template: ChatTemplate
    gguf: Path | None
    """The GGUF file the model was read from, if it was one."""

    def encode(self, text: str, add_special: bool) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=add_special)["input_ids"])

    @property
    def pad_id(self) -> int:
        for token in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id, 0):
            if token is not None:
                return int(token)
        return 0  # pragma: no cover


def load_base(path: Path) -> BaseModel:
    """A GGUF file is dequantized to float32 by transformers' GGUF loader (the architectures it knows);
    a directory is read as a Hugging Face checkpoint. The chat template is the tokenizer's (a GGUF's
    ``tokenizer.chat_template``, the one deepfort serves the GGUF with), else ChatML, as the server."""
    if path.is_file():
        with path.open("rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ConfigError(f"not a GGUF file or a Hugging Face directory: {path}")
        where, extra = str(path.parent), {"gguf_file": path.name}
    elif (path / "config.json").is_file():
        where, extra = str(path), {}
    else:
        raise ConfigError(f"not a GGUF file or a Hugging Face directory (no config.json): {path}")
    tokenizer = AutoTokenizer.from_pretrained(where, **extra)
    model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32, **extra)
    template = ChatTemplate(
        tokenizer.chat_template or CHATML_TEMPLATE,
        bos_token=tokenizer.bos_token or "",
        eos_token=tokenizer.eos_token or "",
    )
    return BaseModel(
        model=model, tokenizer=tokenizer, template=template, gguf=path if path.is_file() else None
    )
