"""Which tier answers a question: the edge's own model or a center, and what happens when a center fails."""
