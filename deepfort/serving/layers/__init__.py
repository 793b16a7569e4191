"""The side effects of answering, each a layer around the pipeline's engine step, in one declared order
(:data:`deepfort.serving.pipeline.ORDER`)."""
