"""docs/models.md holds one model card per registered model, every card with the same fields.

A new model without a card (or with a card that misses a field, its task or one of its options) fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simkit.models import MODELS

DOC = Path(__file__).resolve().parents[1] / "docs" / "models.md"

# The fields of every card, in this order (docs/models.md, introduction).
FIELDS = (
    "Task",
    "Source",
    "Inputs",
    "Architecture",
    "Losses",
    "Optimiser and schedule",
    "Selection",
    "Evaluation",
    "Options",
    "Deviations from the source",
    "Compare with",
)

HEADING = re.compile(r"^## `([^`]+)`\s*$")
FIELD = re.compile(r"^- \*\*([^*]+):\*\*")


def parse_cards(text: str) -> dict[str, str]:
    """Card body per model name: the text under each ``## `name``` heading up to the next ``## `` heading."""
    cards: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        m = HEADING.match(line)
        if m:
            if m.group(1) in cards:
                raise AssertionError(f"two cards for model {m.group(1)}")
            current = cards[m.group(1)] = []
        elif line.startswith("## "):
            current = None
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in cards.items()}


def card_fields(body: str) -> list[str]:
    """The field labels of a card, in order."""
    return [m.group(1) for line in body.splitlines() if (m := FIELD.match(line))]


def missing_cards(text: str, names: list[str]) -> list[str]:
    """Registered model names without a card in ``text``."""
    cards = parse_cards(text)
    return [n for n in names if n not in cards]


@pytest.fixture(scope="module")
def cards() -> dict[str, str]:
    return parse_cards(DOC.read_text(encoding="utf-8"))


def test_every_registered_model_has_a_card(cards: dict[str, str]) -> None:
    missing = [n for n in MODELS.names() if n not in cards]
    assert not missing, f"docs/models.md has no card (heading '## `name`') for: {', '.join(missing)}"


def test_every_card_names_a_registered_model(cards: dict[str, str]) -> None:
    stale = sorted(set(cards) - set(MODELS.names()))
    assert not stale, f"docs/models.md has cards for unregistered models: {', '.join(stale)}"


@pytest.mark.parametrize("name", MODELS.names())
def test_card_has_every_field_in_order(cards: dict[str, str], name: str) -> None:
    assert card_fields(cards.get(name, "")) == list(FIELDS)


@pytest.mark.parametrize("name", MODELS.names())
def test_card_task_and_training_match_the_registry(cards: dict[str, str], name: str) -> None:
    spec = MODELS.get(name)
    task_line = next(line for line in cards[name].splitlines() if line.startswith("- **Task:**"))
    assert f"`{spec.task}`" in task_line
    assert ("does not train" not in task_line) == spec.trainable
    assert ("trains" in task_line) == spec.trainable


@pytest.mark.parametrize("name", MODELS.names())
def test_card_mentions_every_option(cards: dict[str, str], name: str) -> None:
    spec = MODELS.get(name)
    missing = sorted(o for o in spec.options or () if f"`{o}`" not in cards[name])
    assert not missing, f"card of {name} does not mention its option(s) {', '.join(missing)}"


def test_parser_detects_a_missing_and_a_duplicate_card() -> None:
    text = "# Model cards\n\n## `iid`\n\n- **Task:** `direction`; does not train.\n\n## Other\n\n`gcc_phat`\n"
    assert missing_cards(text, ["iid", "gcc_phat"]) == ["gcc_phat"]
    assert card_fields(parse_cards(text)["iid"]) == ["Task"]
    with pytest.raises(AssertionError, match="two cards"):
        parse_cards(text + "## `iid`\n")
