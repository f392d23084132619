"""seqlearn.tokenize."""
