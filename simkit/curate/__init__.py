"""Curation of in-the-wild video into training clips (seed 000, A.1.2 and A.2.1)."""
