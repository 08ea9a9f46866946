"""Generated user messages for long chats: short notes, now and then a long one that presses on the budget."""

from __future__ import annotations

import random

COLOURS = ["red", "green", "blue", "amber", "violet", "silver", "teal", "ochre"]
THINGS = ["bicycle", "lamp", "teapot", "violin", "kayak", "telescope", "notebook", "tent"]
CITIES = ["Lisbon", "Oslo", "Quito", "Osaka", "Tunis", "Perth", "Lima", "Riga"]


def message(rng: random.Random, n: int) -> str:
    text = (
        f"Note {n}: my {rng.choice(COLOURS)} {rng.choice(THINGS)} from {rng.choice(CITIES)} "
        f"cost {rng.randint(5, 900)} euros on day {rng.randint(1, 28)}."
    )
    if n % 25 == 0:  # now and then a long message, to press on the budget
        text += " " + " ".join(f"Detail {k} of note {n} is {rng.choice(COLOURS)}." for k in range(40))
    return text
