from datetime import datetime

import pytest

from app.prompt.past import asks_about_past

NOW = datetime(2023, 8, 20, 12, 0)


@pytest.mark.parametrize(
    "message",
    [
        "When did Caroline go to the support group?",
        "what did I say about my sister?",
        "Thanks. Who gave you that book?",
        "Did Melanie paint a sunrise?",
        "That concert!\nwhere was it again?",
        "Tell me about the trip two weeks ago",
        "remind me what we planned last May",
    ],
)
def test_questions_and_named_times_ask_about_the_past(message: str) -> None:
    assert asks_about_past(message, NOW)


@pytest.mark.parametrize(
    "message",
    [
        "Write me a haiku about autumn.",
        "I think what matters is trying.",  # a question word, but no question
        "ok?",  # a question, but no question word
        "Let's talk about something new",
    ],
)
def test_other_messages_do_not(message: str) -> None:
    assert not asks_about_past(message, NOW)
