"""``deepfort bench``: a load generator for any OpenAI-compatible server (deepfort, llama-server,
llama-cpp-python's server, vLLM, ...), like vLLM's ``vllm bench serve``.

``prompts`` holds the built-in prompt set and the JSONL reader, ``runner`` sends the streaming requests,
``metrics`` turns the per-request timings into percentiles and throughput, ``report`` prints them.
"""
