"""A loaded GGUF model: weights, vocabulary, tokenizer and metadata, through llama.cpp's C API."""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Sequence
from pathlib import Path

import llama_cpp as lc

from deepfort.errors import ConfigError

_backend_lock = threading.Lock()
_backend_ready = False


def _silence(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    # llama.cpp logs every tensor at load time; deepfort logs what matters itself.
    return None


_LOG_CALLBACK = lc.llama_log_callback(_silence)


def init_backend() -> None:
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            lc.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))
            lc.llama_backend_init()
            _backend_ready = True


class LlamaModel:
    """Owns a ``llama_model``. Tokenizer calls are read-only and safe from any thread."""

    def __init__(self, path: Path, *, vocab_only: bool = False) -> None:
        if not path.is_file():
            raise ConfigError(f"model file not found: {path}")
        with path.open("rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ConfigError(f"not a GGUF file: {path}")
        init_backend()
        params = lc.llama_model_default_params()
        params.vocab_only = vocab_only
        model = lc.llama_model_load_from_file(str(path).encode(), params)
        if not model:
            raise ConfigError(f"llama.cpp could not load {path}")
        self.path = path
        self.ptr = model
        vocab = lc.llama_model_get_vocab(model)
        if not vocab:
            raise ConfigError(f"model has no vocabulary: {path}")
        self.vocab = vocab
        self.n_vocab: int = lc.llama_vocab_n_tokens(vocab)
        self.n_ctx_train: int = lc.llama_model_n_ctx_train(model)
        self.bos: int = lc.llama_vocab_bos(vocab)
        self.eos: int = lc.llama_vocab_eos(vocab)
        self.metadata = self._read_metadata()
        self._piece_cache: dict[int, bytes] = {}

    def close(self) -> None:
        if self.ptr:
            lc.llama_model_free(self.ptr)
            self.ptr = None

    def _read_metadata(self) -> dict[str, str]:
        out: dict[str, str] = {}
        buf = ctypes.create_string_buffer(4096)
        for i in range(lc.llama_model_meta_count(self.ptr)):
            n = lc.llama_model_meta_key_by_index(self.ptr, i, buf, len(buf))
            if n < 0:
                continue
            key = buf.value.decode("utf-8", "replace")
            n = lc.llama_model_meta_val_str_by_index(self.ptr, i, buf, len(buf))
            if n < 0:
                continue
            if n >= len(buf):
                # Long values (the chat template) need a buffer of their full size.
                big = ctypes.create_string_buffer(n + 1)
                lc.llama_model_meta_val_str_by_index(self.ptr, i, big, len(big))
                out[key] = big.value.decode("utf-8", "replace")
            else:
                out[key] = buf.value.decode("utf-8", "replace")
        return out

    @property
    def chat_template(self) -> str | None:
        return self.metadata.get("tokenizer.chat_template")

    @property
    def n_params(self) -> int:
        return int(lc.llama_model_n_params(self.ptr))

    @property
    def size_bytes(self) -> int:
        return int(lc.llama_model_size(self.ptr))

    @property
    def kv_bytes_per_cell(self) -> int:
        """f16 keys and values of one cell in every layer (the KV cache's default type)."""
        head_dim = lc.llama_model_n_embd(self.ptr) // max(lc.llama_model_n_head(self.ptr), 1)
        per_layer = 2 * lc.llama_model_n_head_kv(self.ptr) * head_dim * 2
        return int(lc.llama_model_n_layer(self.ptr) * per_layer)

    @property
    def description(self) -> str:
        buf = ctypes.create_string_buffer(256)
        lc.llama_model_desc(self.ptr, buf, len(buf))
        return buf.value.decode("utf-8", "replace")

    def tokenize(self, text: str, *, add_special: bool = True, parse_special: bool = True) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 8
        tokens = (lc.llama_token * cap)()
        n = lc.llama_tokenize(self.vocab, data, len(data), tokens, cap, add_special, parse_special)
        if n < 0:
            cap = -n
            tokens = (lc.llama_token * cap)()
            n = lc.llama_tokenize(self.vocab, data, len(data), tokens, cap, add_special, parse_special)
        return list(tokens[:n])

    def piece(self, token: int) -> bytes:
        """The bytes of one token (special tokens rendered empty, as llama-server does)."""
        cached = self._piece_cache.get(token)
        if cached is not None:
            return cached
        buf = ctypes.create_string_buffer(64)
        n = lc.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = lc.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        out = buf.raw[:n]
        self._piece_cache[token] = out
        return out

    def special_text(self, token: int) -> str:
        """A token's text with special tokens rendered (``<|im_end|>``), for templates."""
        if token < 0:
            return ""
        buf = ctypes.create_string_buffer(64)
        n = lc.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, True)
        return buf.raw[: max(n, 0)].decode("utf-8", "replace")

    def detokenize(self, tokens: Sequence[int]) -> str:
        bad = next((t for t in tokens if not 0 <= t < self.n_vocab), None)
        if bad is not None:
            raise ValueError(f"token id {bad} is outside the vocabulary (0..{self.n_vocab - 1})")
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", "replace")

    def is_eog(self, token: int) -> bool:
        return bool(lc.llama_vocab_is_eog(self.vocab, token))

    @property
    def add_bos(self) -> bool:
        return bool(lc.llama_vocab_get_add_bos(self.vocab))

    @property
    def add_eos(self) -> bool:
        return bool(lc.llama_vocab_get_add_eos(self.vocab))

    @property
    def pad(self) -> int:
        return int(lc.llama_vocab_pad(self.vocab))
