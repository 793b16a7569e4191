"""Model work: golden-set evaluation of answers (``deepfort evaluate``)."""
