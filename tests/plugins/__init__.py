"""Test plug-ins loaded by import path (``tests.plugins.<module>:<attr>``), e.g. the colour encoder."""
