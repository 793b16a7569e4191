"""The AIGC studio: workflows (DSL, executor, nodes), their runs (owners, recovery, artefacts), storyboard
cards, speech (espeak-ng) and video (ffmpeg)."""
