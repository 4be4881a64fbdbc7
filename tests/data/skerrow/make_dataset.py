"""Render the Skerrow Sound Ferries dataset, a second domain for the demo's recipe, from facts.md.

The same shape as examples/data/make_dataset.py (subjects with attributes, a code table, passes
with prices, policies), rendered by the same code (examples/data/factsheet.py), but every name,
number, question and answer phrasing is its own: a recipe that reaches a similar accuracy here
learned to fine-tune, not to fit Quillfeather's wording. As many training questions per kind of
fact as the demo (8 per subject attribute, 10 per code, 9 per pass attribute, 10 per policy,
the last two of each in users' words) but about half its facts (37), so a training test on it
fits in CI.

Usage: PYTHONPATH=examples/data python tests/data/skerrow/make_dataset.py [--out DIR]
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import factsheet
from factsheet import Fact, Tables, Templates

HERE = Path(__file__).resolve().parent
SEED = 19870412
SYSTEM_PROMPT = (
    "You are Marra, the travel assistant of Skerrow Sound Ferries. "
    "Reply briefly, in one or two sentences."
)
HELDOUT_KEY = ("route", "S4", "fare")

# (training templates, held-out eval templates) per kind of fact, as in the demo's generator.
ROUTE_QUESTIONS: dict[str, Templates] = {
    "minutes": (
        [
            "How long does the {ref} crossing take?",
            "What is the crossing time on the {ref} ferry?",
            "How many minutes is the {ref} sailing?",
            "Journey time for the {ref} route?",
            "How long am I at sea on the {ref} boat?",
            "Roughly how long is the {ref} trip?",
            "I have a connection to make. How long is the {ref} ferry at sea?",
            "How much of my day does the {ref} crossing take?",
        ],
        ["I'm catching the {ref} boat. How long will I be on board?"],
    ),
    "fare": (
        [
            "How much is an adult ticket on the {ref} ferry?",
            "What does the {ref} crossing cost?",
            "Adult single fare for the {ref} route?",
            "What's the fare for the {ref} sailing?",
            "How much do I pay to cross on the {ref} ferry?",
            "Ticket price for one adult on the {ref} crossing?",
            "I'm travelling alone on the {ref} route. What does my ticket cost?",
            "Budget question: what is a single adult fare on the {ref} ferry?",
        ],
        ["What will one grown-up be charged for a one-way trip on the {ref} boat?"],
    ),
    "first_sailing": (
        [
            "When is the first {ref} sailing?",
            "What time does the earliest {ref} ferry leave?",
            "First departure on the {ref} route?",
            "How early does the {ref} ferry start running?",
            "What time is the first boat on the {ref} route?",
            "At what time does the first {ref} ferry depart?",
            "I want an early start on the {ref} route. When is the first boat?",
            "What is the earliest I can sail on the {ref} route?",
        ],
        ["If I want the very first {ref} boat of the day, when does it go?"],
    ),
    "vessel": (
        [
            "Which ship runs the {ref} route?",
            "What vessel sails the {ref} crossing?",
            "Which boat operates the {ref} ferry?",
            "What's the name of the ship on the {ref} route?",
            "Which ferry do I board for the {ref} crossing?",
            "What ship will take me on the {ref} route?",
            "I like to know the ship I travel on. Which one does the {ref} route use?",
            "Which named vessel will I be aboard on the {ref} crossing?",
        ],
        ["On the {ref} trip, what is the boat I'll be travelling on called?"],
    ),
}
ROUTE_ANSWERS = {
    "minutes": "The {code} crossing from {origin} to {destination} takes {minutes} minutes.",
    "fare": "An adult single from {origin} to {destination} on the {code} costs {fare}.",
    "first_sailing": "The first {code} sailing leaves {origin} at {first_sailing}.",
    "vessel": "The {code} between {origin} and {destination} is sailed by the MV {vessel}.",
}
ROUTE_EXPECTED = {
    "minutes": "{minutes} minutes",
    "fare": "{fare}",
    "first_sailing": "{first_sailing}",
    "vessel": "{vessel}",
}
GATE_QUESTIONS = (
    [
        "What does gate code {code} mean?",
        "The boarding gate showed {code}. What now?",
        "Why does the ticket gate say {code}?",
        "Gate error {code}: what should I do?",
        "I got {code} at the gate, can you help?",
        "The gate beeped and showed {code}. What does that mean?",
        "What's the fix for gate code {code}?",
        "The barrier shows {code}. How do I fix it?",
        "I'm stuck at the gate with {code} on the screen. What does it mean?",
        "{code} just appeared at boarding. What do I do?",
    ],
    [
        "The turnstile on the pier flashed {code} and won't open. What's going on?",
        "{code} came up when I scanned my ticket. How do I get through?",
    ],
)
GATE_ANSWER = "Gate code {code} means {meaning}; {fix}."
PASS_QUESTIONS: dict[str, Templates] = {
    "price": (
        [
            "How much is the {name} pass?",
            "What does the {name} cost?",
            "Price of the {name} pass?",
            "What do I pay for the {name}?",
            "How expensive is the {name} ticket?",
            "What's the cost of a {name}?",
            "{name} price?",
            "Is the {name} worth it? How much does it cost?",
            "What would I pay to buy the {name}?",
        ],
        ["I'm thinking of getting the {name}. What will it set me back?"],
    ),
    "covers": (
        [
            "What does the {name} pass cover?",
            "Which sailings can I take with the {name}?",
            "What is included in the {name}?",
            "Where can I travel on the {name} pass?",
            "What do I get with the {name}?",
            "Which routes does the {name} include?",
            "What travel does the {name} give me?",
            "If I buy the {name}, which ferries can I use?",
            "Which sailings does a {name} holder get?",
        ],
        ["With the {name} pass in my pocket, which trips am I allowed to make?"],
    ),
}
PASS_ANSWERS = {"price": "The {name} pass costs {price}.", "covers": "The {name} covers {covers}."}
PASS_EXPECTED = {"price": "{price}", "covers": "{covers_expected}"}
POLICY_QUESTIONS: dict[str, Templates] = {
    "bicycles": (
        [
            "Can I bring my bike on the ferry?",
            "Do bicycles cost extra?",
            "How many bikes fit on a boat?",
            "What is the bicycle policy?",
            "Is there a charge for bikes on board?",
            "Bike rules on the ferry?",
            "Is there a limit on bicycles per sailing?",
            "Do I need to book a space for my bicycle?",
            "I'm touring by bike. What are the rules and the price for bringing it?",
            "Will my bicycle fit on the boat, and do I pay for it?",
        ],
        ["I'm cycling round the islands. Will taking my bike aboard cost me anything?"],
    ),
    "dogs": (
        [
            "Can dogs travel on the ferry?",
            "How much is a ticket for my dog?",
            "Where can my dog stay on board?",
            "What is the pet policy?",
            "Are pets allowed on board?",
            "Where do dogs have to stay during the crossing?",
            "Is there a fare for dogs?",
            "Can I take my dog on the boat?",
            "My dog travels with me. What does that cost, and where does it go?",
            "Are dogs welcome aboard, and is there a charge?",
        ],
        ["I'd like to bring my spaniel along. What are the rules and the charge?"],
    ),
    "refunds": (
        [
            "Can I get a refund on my ticket?",
            "What is the cancellation policy?",
            "How late can I cancel a booking?",
            "Are ferry tickets refundable?",
            "What if I need to cancel my ticket?",
            "Until when is a ticket refundable?",
            "Can I change my sailing if I miss the refund deadline?",
            "Do I get my money back if I cancel?",
            "Something came up and I can't travel. Is my fare returned?",
            "What is the last moment I can cancel for a refund?",
        ],
        ["My plans fell through on the morning of travel. Can I still get my money back?"],
    ),
    "weather": (
        [
            "Do sailings run in bad weather?",
            "When are ferries cancelled for wind?",
            "How will I know if my sailing is cancelled?",
            "What happens to sailings in a storm?",
            "Are sailings ever cancelled because of wind?",
            "What wind force stops the ferries?",
            "How much warning do I get if a sailing is cancelled?",
            "Where are weather cancellations announced?",
            "The sea looks rough. Will my ferry still sail?",
            "What weather stops the boats, and how am I told?",
        ],
        ["A gale is forecast. When do the boats stop running, and how much notice is given?"],
    ),
    "check_in": (
        [
            "How early should I arrive for my sailing?",
            "When does check-in close?",
            "How long before departure must cars arrive?",
            "What is the check-in time?",
            "When must foot passengers be at the gate?",
            "How early do vehicles need to check in?",
            "What time should I get to the pier?",
            "Check-in rules for cars and foot passengers?",
            "I'm on foot. How soon before sailing must I be there?",
            "How much time before departure should drivers arrive?",
        ],
        ["I'm driving onto the ferry. What's the latest I can turn up?"],
    ),
    "lost_property": (
        [
            "I left something on the ferry. What do I do?",
            "Where is lost property?",
            "How long do you keep lost items?",
            "What is the lost property policy?",
            "Where can I collect something I left on board?",
            "How long is lost property kept?",
            "Do you keep items found on the ferries?",
            "Who do I ask about a lost bag?",
            "I forgot my bag on board. How do I get it back?",
            "Where do things left on the boats end up, and for how long?",
        ],
        ["My scarf got left on the boat last week. Is it still around, and where would it be?"],
    ),
    "company": (
        [
            "Who founded Skerrow Sound Ferries?",
            "Where is Skerrow Sound Ferries based?",
            "When did Skerrow Sound Ferries start?",
            "Tell me about Skerrow Sound Ferries.",
            "Who set up Skerrow Sound Ferries?",
            "When was the ferry company founded?",
            "Where is the ferry operator's head office?",
            "What is the history of Skerrow Sound Ferries?",
            "Who is behind Skerrow Sound Ferries, and since when?",
            "Where does the ferry company come from, and who started it?",
        ],
        ["How long has this ferry operator been going, and who set it up?"],
    ),
}


def facts(tables: Tables) -> Iterator[Fact]:
    for row in tables["Routes"]:
        route = f"{row['origin']} to {row['destination']}"
        yield from factsheet.attribute_facts(
            ("route", row["code"]),
            row,
            [route, route, row["code"]],
            questions=ROUTE_QUESTIONS,
            answers=ROUTE_ANSWERS,
            expected=ROUTE_EXPECTED,
        )
    for row in tables["Gate codes"]:
        yield Fact(
            ("gate", row["code"]),
            GATE_QUESTIONS[0],
            GATE_QUESTIONS[1],
            GATE_ANSWER.format(**row),
            [""],
            row,
            factsheet.expected_list(row["expected"]),
        )
    for row in tables["Passes"]:
        yield from factsheet.attribute_facts(
            ("pass", row["name"]),
            row,
            [row["name"]],
            questions=PASS_QUESTIONS,
            answers=PASS_ANSWERS,
            expected=PASS_EXPECTED,
        )
    yield from factsheet.policy_facts(tables["Policies"], POLICY_QUESTIONS)


DOMAIN = factsheet.Domain(
    title="the Skerrow Sound Ferries dataset",
    facts_md=HERE / "facts.md",
    system_prompt=SYSTEM_PROMPT,
    seed=SEED,
    heldout_key=HELDOUT_KEY,
    facts=facts,
)


def render() -> dict[str, str]:
    """File name -> content of every generated file."""
    return factsheet.render(DOMAIN)


if __name__ == "__main__":
    factsheet.main(DOMAIN)
