"""``deepfort quantize``: GGUF to GGUF through llama.cpp's quantize API (``quantizer``, run in a child
process by ``worker``), the types it knows (``types``), and what it measures of the input and the output
(``measure``, on the built-in held-out text of ``heldout`` unless the user gives one)."""
