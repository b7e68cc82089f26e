"""Indexing: walk a video library, cut videos into clips, embed them, store them (DuckDB + FAISS)."""
