"""Tokenizers: text to token ids and back."""

from seqlearn.tokenize.char import ASCII_LETTERS_ALPHABET as ASCII_LETTERS_ALPHABET
from seqlearn.tokenize.char import CharTokenizer as CharTokenizer
from seqlearn.tokenize.char import OOVPolicy as OOVPolicy
from seqlearn.tokenize.fold import fold_to_ascii as fold_to_ascii

__all__ = ["ASCII_LETTERS_ALPHABET", "CharTokenizer", "OOVPolicy", "fold_to_ascii"]
