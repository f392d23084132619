"""seqlearn.nn."""
