"""Tokenizers: text to token ids and back."""

from seqlearn.tokenize.char import ASCII_LETTERS_ALPHABET as ASCII_LETTERS_ALPHABET
from seqlearn.tokenize.char import CharTokenizer as CharTokenizer
from seqlearn.tokenize.char import OOVPolicy as OOVPolicy
from seqlearn.tokenize.fold import fold_to_ascii as fold_to_ascii
from seqlearn.tokenize.glove import GloVe as GloVe
from seqlearn.tokenize.protocol import Tokenizer as Tokenizer
from seqlearn.tokenize.protocol import tokenizer_from_dict as tokenizer_from_dict
from seqlearn.tokenize.vocab import Vocabulary as Vocabulary
from seqlearn.tokenize.word import RegexSplitter as RegexSplitter
from seqlearn.tokenize.word import Splitter as Splitter
from seqlearn.tokenize.word import WhitespaceSplitter as WhitespaceSplitter
from seqlearn.tokenize.word import WordTokenizer as WordTokenizer

__all__ = [
    "ASCII_LETTERS_ALPHABET",
    "CharTokenizer",
    "GloVe",
    "OOVPolicy",
    "RegexSplitter",
    "Splitter",
    "Tokenizer",
    "Vocabulary",
    "WhitespaceSplitter",
    "WordTokenizer",
    "fold_to_ascii",
    "tokenizer_from_dict",
]
