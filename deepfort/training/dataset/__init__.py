"""Datasets for fine-tuning (``deepfort data``): one record format (OpenAI messages JSONL) and one module
per step: :mod:`.importers` (Alpaca, ShareGPT, OpenAI, CSV in), :mod:`.clean` (the ordered cleaning steps
and their report, over :mod:`.dedup`, :mod:`.language` and :mod:`.refusals`), :mod:`.synth` (self-instruct
variety from a teacher, deduplicated by :mod:`.rouge`), :mod:`.split` and :mod:`.stats`."""
