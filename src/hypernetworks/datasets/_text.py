"""Text classification tasks built from real text that ships inside installed packages.

Nothing is downloaded and no sentence is templated: every text is a docstring of an
installed library, a sentence of Python's own reference documentation (``pydoc_data``),
an entry of the human-rated VADER sentiment lexicon, or real words and names from
Faker's locale providers. Each task has a short description (plus paraphrases) and a
text per label, so a model can be conditioned on the task's description and classify by
comparing a text with its labels.

Train/test splits keep near-duplicates apart: texts are deduplicated after
normalisation, and whole *groups* go to one side (all docstrings of objects with the same
name, all sentences of one ``pydoc`` topic, all lexicon words sharing their first four
letters; for the word and name tasks the vocabularies themselves are split).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ._require import require

__all__ = ["TEXT_TASKS", "TextTask", "text_task", "text_tasks"]


@dataclass(frozen=True)
class TextTask:
    """One classification task: texts, integer labels, label texts and descriptions.

    ``descriptions[0]`` is the task's main description; the others are paraphrases
    (used in training by description-conditioned models). ``labels[k]`` is the text of
    class ``k``.
    """

    name: str
    descriptions: tuple[str, ...]
    labels: tuple[str, ...]
    train_texts: tuple[str, ...]
    train_labels: tuple[int, ...]
    test_texts: tuple[str, ...]
    test_labels: tuple[int, ...]
    source: str
    licence: str

    @property
    def description(self) -> str:
        return self.descriptions[0]


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


_ROLE = re.compile(r":[a-z:]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")
_SIGNATURE = re.compile(r"^[\w.]+\(")
_LEAKS = ("torch", "numpy", "np.", "sklearn", "scikit", "matplotlib", "pyplot", "plt.", "mpl")


def _summary(obj: object) -> str | None:
    """The first prose paragraph of a docstring, markup removed, or None."""
    try:
        doc = inspect.getdoc(obj)
    except Exception:  # some C objects raise on attribute access
        return None
    if not isinstance(doc, str):
        return None
    for paragraph in doc.split("\n\n"):
        text = " ".join(paragraph.split())
        if not text or _SIGNATURE.match(text) or "->" in paragraph.split("\n")[0]:
            continue
        text = _ROLE.sub(r"\1", text).replace("``", "").replace("`", "").replace("*", "")
        words = text.split()
        if len(words) < 4 or any(leak in text.lower() for leak in _LEAKS):
            return None
        return " ".join(words[:40])
    return None


LIBRARIES: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy", "numpy.linalg", "numpy.fft", "numpy.random", "numpy.ma", "numpy.char"),
    "torch": (
        "torch",
        "torch.nn",
        "torch.nn.functional",
        "torch.linalg",
        "torch.fft",
        "torch.optim",
        "torch.distributions",
        "torch.special",
        "torch.utils.data",
    ),
    "sklearn": tuple(
        f"sklearn.{m}"
        for m in (
            "linear_model ensemble svm tree cluster decomposition preprocessing metrics "
            "model_selection neighbors naive_bayes manifold mixture covariance impute "
            "pipeline compose feature_selection gaussian_process random_projection "
            "calibration discriminant_analysis multiclass cross_decomposition"
        ).split()
    ),
    "matplotlib": tuple(
        f"matplotlib.{m}"
        for m in (
            "pyplot colors ticker patches transforms dates axes figure collections text "
            "lines path widgets animation image legend scale"
        ).split()
    ),
}


@functools.cache
def _docstrings() -> tuple[tuple[str, str, str, str], ...]:
    """(library, kind, object name, summary) for the public objects of :data:`LIBRARIES`."""
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for library, modules in LIBRARIES.items():
            seen: set[int] = set()
            for module_name in modules:
                module = importlib.import_module(module_name)
                for name in sorted(dir(module)):
                    if name.startswith("_"):
                        continue
                    try:
                        obj = getattr(module, name)
                    except Exception:
                        continue
                    owner = getattr(obj, "__module__", None) or ""
                    is_class = inspect.isclass(obj)
                    if not (is_class or callable(obj)) or id(obj) in seen:
                        continue
                    if not owner.startswith(library):
                        continue
                    seen.add(id(obj))
                    members = [(name, obj, "class" if is_class else "function")]
                    if is_class:
                        for attr, value in sorted(vars(obj).items()):
                            if not attr.startswith("_") and inspect.isfunction(value):
                                members.append((attr, value, "function"))
                    for member, value, kind in members:
                        summary = _summary(value)
                        if summary is not None:
                            out.append((library, kind, member.lower(), summary))
    return tuple(out)


def _library() -> tuple[list[str], list[int], list[str]]:
    rows = _docstrings()
    owners: dict[str, set[str]] = {}
    for library, _, _, text in rows:
        owners.setdefault(_normalise(text), set()).add(library)
    names = list(LIBRARIES)
    keep = [r for r in rows if len(owners[_normalise(r[3])]) == 1]
    return [r[3] for r in keep], [names.index(r[0]) for r in keep], [r[2] for r in keep]


def _kind() -> tuple[list[str], list[int], list[str]]:
    rows = _docstrings()
    return [r[3] for r in rows], [int(r[1] == "function") for r in rows], [r[2] for r in rows]


def _sentiment() -> tuple[list[str], list[int], list[str]]:
    vader = require("vaderSentiment", "vaderSentiment", "adapters")
    path = f"{vader.__path__[0]}/vader_lexicon.txt"
    texts, labels, groups = [], [], []
    with open(path, encoding="utf-8") as lexicon:
        for line in lexicon:
            word, mean, *_ = line.split("\t")
            if re.fullmatch(r"[a-z]+", word) and abs(float(mean)) >= 1.0:
                texts.append(word)
                labels.append(int(float(mean) > 0))
                groups.append(word[:4])
    return texts, labels, groups


# topic -> 0 statement, 1 expression, 2 object/type behaviour (topics not listed are unused)
_TOPICS = {
    **dict.fromkeys(
        "assert assignment augassign break class compound continue del for function global "
        "if import nonlocal pass raise return try while with async".split(),
        0,
    ),
    **dict.fromkeys(
        "atom-identifiers atom-literals attribute-references await binary bitwise booleans "
        "calls comparisons exprlists lambda operator-summary power shifting slicings "
        "subscriptions unary yield conversions in".split(),
        1,
    ),
    **dict.fromkeys(
        "bltin-code-objects bltin-ellipsis-object bltin-null-object bltin-type-objects "
        "callable-types dict numeric-types sequence-types specialattrs string-methods truth "
        "types typesfunctions typesmapping typesmethods typesmodules typesseq "
        "typesseq-mutable customization attribute-access context-managers objects".split(),
        2,
    ),
}


def _python_topic() -> tuple[list[str], list[int], list[str]]:
    from pydoc_data.topics import topics

    texts, labels, groups = [], [], []
    for topic, label in _TOPICS.items():
        prose = " ".join(
            line.strip()
            for line in topics[topic].splitlines()
            if line.strip() and not line.startswith("   ") and "::=" not in line
        )
        for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", prose):
            words = sentence.split()
            if 6 <= len(words) <= 40 and sentence.count('"') <= 4:
                texts.append(sentence)
                labels.append(label)
                groups.append(topic)
    return texts, labels, groups


_LANGUAGES = ("en_US", "de_DE", "fr_FR", "it_IT", "es_ES", "pl_PL")


def _vocabularies(kind: str) -> list[list[str]]:
    require("faker", "faker", "adapters")
    out = []
    for locale in _LANGUAGES:
        provider = importlib.import_module(f"faker.providers.{kind}.{locale}").Provider
        if kind == "lorem":
            words = [w.lower() for w in provider.word_list]
        else:
            words = list(provider.first_names) + list(provider.last_names)
        out.append(sorted({w for w in words if w.isalpha()}))
    return out


def _sampled(kind: str, words: int, per_class: int, seed: int) -> tuple[list, list, list]:
    """Texts of ``words`` words (or a first and a last name) drawn per language from a
    vocabulary split in two: train texts use only train words, test texts only test words."""
    rng = np.random.default_rng([seed, 7])
    vocabularies = _vocabularies(kind)
    languages: dict[str, int] = {}
    for vocabulary in vocabularies:
        for word in vocabulary:
            languages[word.lower()] = languages.get(word.lower(), 0) + 1
    # a word of several languages is dropped; the rest are split once, for every language
    words_all = sorted(w for w, n in languages.items() if n == 1)
    test_words = {words_all[i] for i in rng.permutation(len(words_all))[: len(words_all) // 4]}
    texts, labels, groups = [], [], []
    for label, vocabulary in enumerate(vocabularies):
        for side in ("train", "test"):
            pool = [
                w
                for w in vocabulary
                if languages[w.lower()] == 1 and (w.lower() in test_words) == (side == "test")
            ]
            count = per_class if side == "train" else per_class // 3
            for _ in range(count):
                chosen = rng.choice(len(pool), size=words, replace=False)
                texts.append(
                    " ".join(pool[i].capitalize() if kind == "person" else pool[i] for i in chosen)
                )
                labels.append(label)
                groups.append(side)
    return texts, labels, groups


@dataclass(frozen=True)
class _Spec:
    descriptions: tuple[str, ...]
    labels: tuple[str, ...]
    build: Callable[[int, int], tuple[list[str], list[int], list[str]]]
    source: str
    licence: str


TEXT_TASKS: dict[str, _Spec] = {
    "library": _Spec(
        (
            "Which Python library wrote this documentation sentence?",
            "Identify the software package a docstring comes from.",
            "Tell numpy, pytorch, scikit-learn and matplotlib documentation apart.",
        ),
        (
            "numpy arrays",
            "pytorch deep learning",
            "scikit-learn machine learning",
            "matplotlib plotting",
        ),
        lambda seed, n: _library(),
        "docstring summaries of numpy, torch, scikit-learn, matplotlib public objects",
        "BSD-3-Clause (numpy, torch, scikit-learn), PSF-based matplotlib licence",
    ),
    "kind": _Spec(
        (
            "Does this docstring document a class or a function?",
            "Decide whether the documented Python object is a class or a callable function.",
            "Classify API documentation by the kind of object it describes.",
        ),
        ("a class", "a function"),
        lambda seed, n: _kind(),
        "the same docstring summaries, labelled by the kind of object documented",
        "as for library",
    ),
    "sentiment": _Spec(
        (
            "Is this word positive or negative in sentiment?",
            "Rate the emotional valence of an English word.",
            "Decide whether a word expresses a good or a bad feeling.",
        ),
        ("negative", "positive"),
        lambda seed, n: _sentiment(),
        "VADER sentiment lexicon (vaderSentiment), words with |mean human rating| >= 1",
        "MIT",
    ),
    "language": _Spec(
        (
            "Which language are these words written in?",
            "Identify the language of a list of words.",
            "Tell English, German, French, Italian, Spanish and Polish words apart.",
        ),
        ("English", "German", "French", "Italian", "Spanish", "Polish"),
        lambda seed, n: _sampled("lorem", 5, n, seed),
        "Faker's lorem word lists of six locales (5 words per text)",
        "MIT",
    ),
    "names": _Spec(
        (
            "Which country does this person's name come from?",
            "Guess the nationality of a first and last name.",
            "Identify the language origin of a personal name.",
        ),
        ("American", "German", "French", "Italian", "Spanish", "Polish"),
        lambda seed, n: _sampled("person", 2, n, seed),
        "Faker's person-name lists of six locales (a first and a last name)",
        "MIT",
    ),
    "python": _Spec(
        (
            "Does this Python documentation sentence describe a statement, an expression, "
            "or object behaviour?",
            "Classify a sentence of the Python language reference by its subject.",
            "Which part of the Python reference manual is this sentence from?",
        ),
        ("a statement", "an expression", "an object type or special method"),
        lambda seed, n: _python_topic(),
        "sentences of CPython's pydoc_data topics (the language reference)",
        "PSF-2.0",
    ),
}


def _split(
    texts: Sequence[str],
    labels: Sequence[int],
    groups: Sequence[str],
    *,
    classes: int,
    train_per_class: int,
    test_per_class: int,
    seed: int,
) -> tuple[list[str], list[int], list[str], list[int]]:
    rng = np.random.default_rng([seed, 11])
    seen: set[str] = set()
    rows = []
    for text, label, group in zip(texts, labels, groups, strict=True):
        key = _normalise(text)
        if key and key not in seen:
            seen.add(key)
            rows.append((text, label, group))
    names = sorted({g for _, _, g in rows})
    if names == ["test", "train"]:
        test_groups = {"test"}
    else:
        order = rng.permutation(len(names))
        test_groups = {names[i] for i in order[: max(1, len(names) // 4)]}
    out: list[list] = [[], [], [], []]
    for side, cap in ((0, train_per_class), (1, test_per_class)):
        for label in range(classes):
            pool = [r for r in rows if r[1] == label and ((r[2] in test_groups) == bool(side))]
            for i in sorted(rng.permutation(len(pool))[:cap]):
                out[2 * side].append(pool[i][0])
                out[2 * side + 1].append(label)
    perm_train = rng.permutation(len(out[0]))
    perm_test = rng.permutation(len(out[2]))
    return (
        [out[0][i] for i in perm_train],
        [out[1][i] for i in perm_train],
        [out[2][i] for i in perm_test],
        [out[3][i] for i in perm_test],
    )


def text_task(
    name: str, *, seed: int = 0, train_per_class: int = 120, test_per_class: int = 40
) -> TextTask:
    """One of :data:`TEXT_TASKS`, split by ``seed`` with at most the given counts per class.

    Example:
        >>> task = text_task("sentiment", seed=0, train_per_class=5, test_per_class=2)
        >>> task.labels, len(task.train_texts), len(task.test_texts)
        (('negative', 'positive'), 10, 4)
    """
    if name not in TEXT_TASKS:
        raise ValueError(f"text task must be one of {sorted(TEXT_TASKS)}, got {name!r}")
    spec = TEXT_TASKS[name]
    texts, labels, groups = spec.build(seed, 3 * train_per_class)
    train, train_y, test, test_y = _split(
        texts,
        labels,
        groups,
        classes=len(spec.labels),
        train_per_class=train_per_class,
        test_per_class=test_per_class,
        seed=seed,
    )
    return TextTask(
        name,
        spec.descriptions,
        spec.labels,
        tuple(train),
        tuple(train_y),
        tuple(test),
        tuple(test_y),
        spec.source,
        spec.licence,
    )


def text_tasks(
    names: Sequence[str] | None = None,
    *,
    seed: int = 0,
    train_per_class: int = 120,
    test_per_class: int = 40,
) -> dict[str, TextTask]:
    """Several :func:`text_task` s (all of :data:`TEXT_TASKS` by default), by name."""
    chosen = list(TEXT_TASKS) if names is None else list(names)
    return {
        n: text_task(n, seed=seed, train_per_class=train_per_class, test_per_class=test_per_class)
        for n in chosen
    }
