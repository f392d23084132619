"""seqlearn.data."""
