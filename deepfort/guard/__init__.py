"""Guards around the models: personal data in requests, harmful content in answers.

- :mod:`deepfort.guard.pii` finds personal data (ID cards, phones, bank cards, ...) in user messages;
  :mod:`deepfort.guard.masking` replaces it with placeholders for the model and restores the values in
  the streamed answer, or blocks the request, by the key's policy.
- :mod:`deepfort.guard.moderation` reviews generated text against phrase lexicons as it streams, holding
  back just enough to catch a phrase split across deltas; :mod:`deepfort.guard.external` asks an external
  moderation API as well.
"""
