"""CLI commands of the grounding package, one module per command."""
