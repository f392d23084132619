"""seqlearn.decode."""
