"""llama.cpp in-process engine (GGUF models) with its own batching scheduler."""

from deepfort.engines.llamacpp.engine import LlamaCppEngine

__all__ = ["LlamaCppEngine"]
