"""``deepfort distill``: a teacher's answers, kept only when they pass a verifier, become SFT data for a
student that is fine-tuned and evaluated before and after on a held-out split. One module per step:
:mod:`.prompts` (the prompt set, each prompt as an eval suite's item), :mod:`.heldout` (the split),
:mod:`.teacher` (rejection sampling through the eval runner), :mod:`.traces` (kept and rejected answers,
SFT records), :mod:`.report`, and :mod:`.run` (the whole, with the fine-tune and the evals)."""
