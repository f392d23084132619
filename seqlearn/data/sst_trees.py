"""Reading the Stanford Sentiment Treebank's trees, one sentence a line.

The treebank (``trainDevTestTrees_PTB.zip``) writes each sentence as a bracketed tree with a
0-4 sentiment label at every node, e.g. ``(3 (2 (2 The) (2 Rock)) (4 (2 rocks) (2 .)))``.
:func:`read_sst_trees` reads a file of them into whole sentences, or every phrase, with
their labels.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from seqlearn.data._text_file import content_lines, line_error
from seqlearn.data.sentiment import SentimentPhrases

__all__ = ["read_sst_trees"]

_TREE_TOKEN = re.compile(r"\(|\)|[^\s()]+", re.ASCII)  # words may hold U+00A0
_TREE_LABEL = re.compile(r"[0-4]")


class _Node:
    """A tree node while it is being parsed."""

    __slots__ = ("index", "subtrees", "word")

    def __init__(self, index: int):
        self.index = index  # position in the pre-order list of nodes
        self.word = False
        self.subtrees = False


def _parse_tree(path: Path, number: int, line: str) -> tuple[list[str], list[tuple[int, int, int]]]:
    """The leaves of a tree and its nodes in pre-order, each as ``(label, start, end)``:
    the node covers ``leaves[start:end]``."""
    leaves: list[str] = []
    nodes: list[tuple[int, int, int]] = []
    open_nodes: list[_Node] = []
    expect_label = done = False
    for match in _TREE_TOKEN.finditer(line):
        token, column = match.group(), match.start() + 1
        where = f"column {column}"
        if done and token != ")":
            raise line_error(path, number, f"unexpected {token!r} after the tree's end ({where})")
        if expect_label:
            if not _TREE_LABEL.fullmatch(token):
                raise line_error(
                    path, number, f"expected a label 0-4 after '(', got {token!r} ({where})"
                )
            open_nodes.append(_Node(len(nodes)))
            nodes.append((int(token), len(leaves), -1))
            expect_label = False
        elif token == "(":
            if open_nodes and open_nodes[-1].word:
                raise line_error(path, number, f"a node holds both a word and subtrees ({where})")
            if open_nodes:
                open_nodes[-1].subtrees = True
            expect_label = True
        elif token == ")":
            if not open_nodes:
                raise line_error(path, number, f"unbalanced brackets: ')' closes nothing ({where})")
            node = open_nodes.pop()
            if not (node.word or node.subtrees):
                raise line_error(path, number, f"empty node ({where})")
            label, start, _ = nodes[node.index]
            nodes[node.index] = (label, start, len(leaves))
            done = not open_nodes
        else:
            if not open_nodes:
                raise line_error(
                    path, number, f"expected '(' to start a tree, got {token!r} ({where})"
                )
            if open_nodes[-1].word or open_nodes[-1].subtrees:
                raise line_error(
                    path,
                    number,
                    f"unexpected word {token!r}: a node holds one word or subtrees ({where})",
                )
            open_nodes[-1].word = True
            leaves.append(token)
    if expect_label:
        raise line_error(path, number, "expected a label 0-4 after '(', got the end of the line")
    if open_nodes:
        raise line_error(path, number, f"unbalanced brackets: {len(open_nodes)} '(' not closed")
    return leaves, nodes


def _parse_trees(path: Path, rows: list[tuple[int, str]], phrases: bool) -> SentimentPhrases:
    """Parse SST trees, one a line, from the file's non-blank lines."""
    texts: list[str] = []
    labels: list[int] = []
    sentence_ids: list[int] = []
    is_sentence: list[bool] = []
    for sentence_id, (number, line) in enumerate(rows, 1):
        leaves, nodes = _parse_tree(path, number, line)
        seen: set[str] = set()
        for position, (label, start, end) in enumerate(nodes if phrases else nodes[:1]):
            text = " ".join(leaves[start:end])
            if text in seen:
                continue
            seen.add(text)
            texts.append(text)
            labels.append(label)
            sentence_ids.append(sentence_id)
            is_sentence.append(position == 0)  # the root
    return SentimentPhrases(texts, labels, sentence_ids=sentence_ids, is_sentence=is_sentence)


def read_sst_trees(
    path: str | os.PathLike[str], *, phrases: bool = False, binary: bool = False
) -> SentimentPhrases:
    """Read Stanford Sentiment Treebank trees, one sentence a line.

    A tree is ``(label word)`` or ``(label subtree subtree ...)`` with a label 0-4, its
    parts separated by ASCII whitespace; a word may hold other spaces (the treebank writes
    ``8 1\\/2`` with a no-break space, U+00A0, inside). A text is its words (the leaves)
    joined by single spaces, as in Kaggle's TSV phrases. The sentence id of a tree is its
    number in the file, from 1 (Kaggle's ``SentenceId``); phrase ids are ``None``.

    With ``phrases`` false, each sentence is one item, labelled by its root. With
    ``phrases`` true, each sentence gives every phrase (every subtree, leaves included) in
    pre-order, root first, deduplicated *within* the sentence (a text that repeats in one
    sentence is kept once, with its first label) but *not across* sentences: each sentence
    keeps all its phrases, unlike Kaggle's files, which hold each distinct phrase once.
    Only the root has ``is_sentence`` true.

    Args:
        path: The trees file (``train.txt``, ``dev.txt`` or ``test.txt``).
        phrases: Every phrase rather than whole sentences only.
        binary: Map to binary SST-2 (0 and 1 negative, 3 and 4 positive) and drop neutral
            items (:meth:`SentimentPhrases.binary`).

    Returns:
        The sentences or phrases in file order, labelled by :data:`SST_CATEGORIES` (or
        :data:`SST2_CATEGORIES` when ``binary``).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is empty or not UTF-8, or a tree is malformed (unbalanced
            brackets, a label other than 0-4, an empty node, text after the tree); the
            message names the file and line.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = Path(tmp, "dev.txt").write_text("(3 (2 Good) (3 (3 fun) (2 .)))\\n")
        ...     sentences = read_sst_trees(Path(tmp, "dev.txt"))
        ...     phrases = read_sst_trees(Path(tmp, "dev.txt"), phrases=True)
        >>> sentences[0]
        SentimentPhrase(text='Good fun .', label=3, phrase_id=None, sentence_id=1, is_sentence=True)
        >>> phrases.texts
        ['Good fun .', 'Good', 'fun .', 'fun', '.']
    """
    file = Path(path)
    rows = content_lines(file)
    if not rows:
        raise line_error(file, 1, "empty file, expected one tree a line")
    data = _parse_trees(file, rows, phrases)
    return data.binary() if binary else data
