"""The AIGC studio: workflows (DSL, executor, nodes); image, video, quality and provenance to come."""
