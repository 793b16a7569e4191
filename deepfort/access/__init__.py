"""Who may do what: API keys and roles, authentication, rate and token limits, the audit chain, and the
master keyring that opens the store. Sits above the store, below the pipeline."""
