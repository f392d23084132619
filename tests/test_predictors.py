"""Ready predictors (issue 11, point 3): TextClassifier and TextGenerator against plain
references: one text at a time through the model, the decoders called directly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from artifact_models import CLASSIFIERS, GENERATORS, NAMES, train_a_little

import seqlearn
from seqlearn.artifacts import (
    GeneratedText,
    Prediction,
    TextClassifier,
    TextGenerator,
    UnencodableTextError,
)
from seqlearn.decode import BanTokens, TopK, TopP, beam_search, greedy, sample
from seqlearn.nn import lecture_generator
from seqlearn.tokenize import CharTokenizer

LABELS = ["Arabic", "Chinese", "English", "French", "German"]
CATEGORIES = ["English", "French", "German"]


@pytest.fixture(scope="module")
def classifier() -> TextClassifier:
    model = CLASSIFIERS["bigru-max-pooled"]()
    train_a_little(model, "bigru-max-pooled")
    return TextClassifier(model, CharTokenizer(oov="drop"), LABELS, batch_size=3)


@pytest.fixture(scope="module")
def generator() -> TextGenerator:
    model = GENERATORS["lstm-stack-generator"]()
    train_a_little(model, "lstm-stack-generator")
    return TextGenerator(model, CharTokenizer(oov="drop"), CATEGORIES)


# The classifier


def test_probabilities_equal_the_model_run_on_each_text_alone(classifier: TextClassifier) -> None:
    probabilities = classifier.predict_proba(NAMES)
    assert probabilities.shape == (len(NAMES), len(LABELS))
    for row, name in zip(probabilities, NAMES):
        ids = classifier.tokenizer.encode(name)
        with torch.inference_mode():
            alone = classifier.model.eval()(torch.tensor([ids]), torch.tensor([len(ids)]))
        torch.testing.assert_close(row, alone.softmax(dim=-1)[0], rtol=0, atol=1e-6)


def test_batching_and_order_do_not_change_the_results(classifier: TextClassifier) -> None:
    many = NAMES * 7  # 56 texts in batches of 3, sorted by length inside
    wide = TextClassifier(classifier.model, classifier.tokenizer, LABELS, batch_size=1000)
    torch.testing.assert_close(
        classifier.predict_proba(many), wide.predict_proba(many), rtol=0, atol=1e-6
    )
    reversed_ = classifier.predict_proba(many[::-1])
    torch.testing.assert_close(reversed_.flip(0), classifier.predict_proba(many), atol=1e-6, rtol=0)


def test_predict_gives_the_top_k_labels_likeliest_first(classifier: TextClassifier) -> None:
    probabilities = classifier.predict_proba(NAMES)
    predictions = classifier.predict(NAMES, top_k=3)
    for prediction, row, name in zip(predictions, probabilities, NAMES):
        assert isinstance(prediction, Prediction)
        assert prediction.text == name
        expected = row.topk(3)
        assert list(prediction.labels) == [LABELS[i] for i in expected.indices.tolist()]
        assert prediction.probabilities == pytest.approx(expected.values.tolist())
        assert prediction.label == prediction.labels[0]
    assert [p.label for p in classifier.predict(NAMES)] == [p.label for p in predictions]


def test_any_number_of_texts(classifier: TextClassifier) -> None:
    assert classifier.predict([]) == []
    assert classifier.predict_proba([]).shape == (0, len(LABELS))
    assert len(classifier.predict(NAMES * 40)) == len(NAMES) * 40


def test_texts_the_tokenizer_cannot_encode_are_reported_not_dropped(
    classifier: TextClassifier,
) -> None:
    with pytest.raises(UnencodableTextError) as info:
        classifier.predict(["Smith", "Ωμέγα", "", "Li", "日本"])
    assert info.value.indices == [1, 2, 4]
    assert "texts[1] 'Ωμέγα'" in str(info.value)
    strict = TextClassifier(classifier.model, CharTokenizer(), LABELS)  # oov="error"
    with pytest.raises(UnencodableTextError, match=r"texts\[0\] 'Jos\?': character '\?'"):
        strict.predict(["Jos?"])


def test_bad_arguments(classifier: TextClassifier) -> None:
    with pytest.raises(TypeError, match="single str"):
        classifier.predict("Smith")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"texts\[1\] is a int"):
        classifier.predict(["a", 3])  # type: ignore[list-item]
    for top_k in (0, 6):
        with pytest.raises(ValueError, match=r"top_k must be in \[1, 5\]"):
            classifier.predict(NAMES, top_k=top_k)
    with pytest.raises(ValueError, match="labels"):
        TextClassifier(classifier.model, classifier.tokenizer, [])


def test_prediction_runs_in_inference_mode_and_restores_the_training_flag(
    classifier: TextClassifier,
) -> None:
    classifier.model.train()
    probabilities = classifier.predict_proba(NAMES)
    assert classifier.model.training
    assert probabilities.requires_grad is False
    classifier.model.eval()
    torch.testing.assert_close(probabilities, classifier.predict_proba(NAMES), rtol=0, atol=0)


def test_the_parts_are_exposed_and_it_moves_between_devices(classifier: TextClassifier) -> None:
    assert classifier.to("cpu") is classifier
    assert classifier.device == torch.device("cpu")
    assert classifier.labels == LABELS
    assert isinstance(classifier.tokenizer, CharTokenizer)
    assert isinstance(classifier.model, torch.nn.Module)
    with pytest.raises(ValueError, match="not available"):
        classifier.to("cuda") if not torch.cuda.is_available() else classifier.to("mps:7")


def test_load_returns_the_classifier(classifier: TextClassifier, tmp_path: Path) -> None:
    loaded = seqlearn.load(classifier.save(tmp_path / "m"))
    assert isinstance(loaded, TextClassifier)
    assert [p.label for p in loaded.predict(NAMES)] == [p.label for p in classifier.predict(NAMES)]
    assert isinstance(TextClassifier.load(tmp_path / "m"), TextClassifier)


# The generator


def _state(generator: TextGenerator, category: str) -> object:
    index = CATEGORIES.index(category)
    return generator.model.initial_state(torch.tensor([index]))  # type: ignore[operator]


def test_greedy_equals_the_decoder_called_directly(generator: TextGenerator) -> None:
    tokenizer = generator.tokenizer
    for category in CATEGORIES:
        expected = greedy(
            generator.model,  # type: ignore[arg-type]
            _state(generator, category),
            [tokenizer.encode("Ma")],
            eos_id=tokenizer.eos_id,
            max_new_tokens=20,
            decode=tokenizer.decode,
        )
        assert generator.generate(category, prefix="Ma", strategy="greedy") == expected.texts


def test_sampling_with_processors_equals_the_decoder_with_the_same_seed(
    generator: TextGenerator,
) -> None:
    tokenizer = generator.tokenizer
    expected = sample(
        generator.model,  # type: ignore[arg-type]
        _state(generator, "French"),
        [tokenizer.encode("K")],
        eos_id=tokenizer.eos_id,
        max_new_tokens=12,
        temperature=0.7,
        processors=[TopK(10), TopP(0.9), BanTokens([tokenizer.token_to_id("z")])],
        num_samples=5,
        generator=torch.Generator().manual_seed(3),
        decode=tokenizer.decode,
    )
    got = generator.generate_with_logprobs(
        "French", n=5, prefix="K", max_length=12, temperature=0.7, top_k=10, top_p=0.9,
        processors=[BanTokens([tokenizer.token_to_id("z")])], seed=3,
    )  # fmt: skip
    assert [g.text for g in got] == expected.texts
    assert [g.logprob for g in got] == pytest.approx(expected.logprobs)
    assert all(isinstance(g, GeneratedText) and "z" not in g.text[1:] for g in got)
    assert generator.generate("French", n=5, prefix="K", seed=3) == generator.generate(
        "French", n=5, prefix="K", seed=3
    )


def test_beam_search_returns_the_n_best(generator: TextGenerator) -> None:
    tokenizer = generator.tokenizer
    expected = beam_search(
        generator.model,  # type: ignore[arg-type]
        _state(generator, "German"),
        [tokenizer.encode("Sch")],
        eos_id=tokenizer.eos_id,
        max_new_tokens=20,
        beam_width=6,
        num_return_sequences=3,
        decode=tokenizer.decode,
    )
    got = generator.generate_with_logprobs(
        "German", n=3, prefix="Sch", strategy="beam", beam_width=6
    )
    assert [g.text for g in got] == expected.texts
    assert [g.stop_reason for g in got] == expected.stop_reasons


def test_generation_refuses_what_it_cannot_do(generator: TextGenerator) -> None:
    with pytest.raises(ValueError, match="unknown category 'Klingon'"):
        generator.generate("Klingon", prefix="K")
    with pytest.raises(ValueError, match="no BOS token"):
        generator.generate("French")
    with pytest.raises(ValueError, match="greedy decoding makes one text"):
        generator.generate("French", prefix="K", strategy="greedy", n=2)
    with pytest.raises(ValueError, match="beam_width >= 5"):
        generator.generate("French", prefix="K", strategy="beam", n=5, beam_width=4)
    with pytest.raises(ValueError, match="strategy must be"):
        generator.generate("French", prefix="K", strategy="top")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="temperature"):
        generator.generate("French", prefix="K", temperature=0)


def test_score_equals_the_log_softmax_of_each_next_character(generator: TextGenerator) -> None:
    tokenizer = generator.tokenizer
    scores = generator.score(["Karl", "Mueller"], category=["German", "English"])
    for score, name, category in zip(scores, ["Karl", "Mueller"], ["German", "English"]):
        ids = tokenizer.encode(name)
        targets = [*ids[1:], tokenizer.eos_id]
        with torch.inference_mode():
            logits = generator.model.eval()(  # type: ignore[operator]
                torch.tensor([ids]), torch.tensor([len(ids)]),
                torch.tensor([CATEGORIES.index(category)]),
            )[0]  # fmt: skip
        expected = logits.log_softmax(dim=-1)[range(len(ids)), targets]
        assert score.char_log_likelihoods == pytest.approx(expected.tolist(), abs=1e-5)
        assert score.log_likelihood == pytest.approx(float(expected.sum()), abs=1e-4)
        assert score.per_char == pytest.approx(score.log_likelihood / len(ids))
    assert generator.score([], category="German") == []


def test_with_a_bos_token_the_first_character_is_scored_and_the_prefix_may_be_empty() -> None:
    tokenizer = CharTokenizer(bos=True)
    model = lecture_generator(vocab_size=tokenizer.vocab_size, num_categories=1)
    generator = TextGenerator(model, tokenizer, ["any"])
    (score,) = generator.score(["Ab"], category="any")
    assert len(score.char_log_likelihoods) == 3  # A, b and EOS, after BOS
    assert len(generator.generate("any", n=2, seed=0, max_length=5)) == 2


def test_load_returns_the_generator(generator: TextGenerator, tmp_path: Path) -> None:
    loaded = seqlearn.load(generator.save(tmp_path / "g", metadata={"valid_nll": [1.5]}))
    assert isinstance(loaded, TextGenerator)
    assert loaded.categories == CATEGORIES
    assert loaded.generate("French", n=4, prefix="B", seed=1) == generator.generate(
        "French", n=4, prefix="B", seed=1
    )
