"""Request lifecycle between the HTTP layer and the engines."""
