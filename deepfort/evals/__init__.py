"""``deepfort eval``: benchmark suites (multiple choice, maths, code, golden sets) run against any
OpenAI-compatible server, reasoning-aware, with a resumable JSONL cache and paired comparisons."""
