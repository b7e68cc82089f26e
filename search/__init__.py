"""Query engine: from a sentence to ranked moments across the whole library."""
