"""Knowledge: a bot's documents, their chunks, and the search that previews retrieval."""
