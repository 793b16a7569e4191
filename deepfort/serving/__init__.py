"""The one chat pipeline (``ChatPipeline.execute(request, caller) -> Run``), its layers, and the model pool.
See docs/architecture.md, "The life of a chat request"."""
