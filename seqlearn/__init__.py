"""seqlearn: typed, readable recurrent sequence models on PyTorch."""

from seqlearn._version import __version__ as __version__
