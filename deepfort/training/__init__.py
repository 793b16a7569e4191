"""Model work: datasets, fine-tuning, distillation, quantization (one package each)."""
