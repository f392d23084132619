"""seqlearn.train."""
