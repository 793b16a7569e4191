"""Model work: evaluation (golden sets) now; fine-tuning, distillation and quantization to come."""
