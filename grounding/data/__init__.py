"""Grounding data: annotations (QVHighlights / Charades-STA / TACoS JSONL), features (npz), dataset + collate.

Import from the submodules (``grounding.data.dataset`` pulls in torch; the others only numpy).
"""
