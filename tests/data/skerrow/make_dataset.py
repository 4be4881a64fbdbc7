"""Render the Skerrow Sound Ferries dataset, a second domain for the demo's recipe, from facts.md.

The same shape as examples/data/make_dataset.py (subjects with attributes, a code table, passes
with prices, policies), rendered by the same code (examples/data/factsheet.py), but every name,
number, question and answer phrasing is its own: a recipe that reaches a similar accuracy here
learned to fine-tune, not to fit Quillfeather's wording. About as many training questions per
kind of fact as the demo (13 or 14 per subject attribute, 13 per code, 13 or 14 per pass
attribute, 14 to 16 per policy), made the same way (keyword templates, two in users' words, the
rest written blind and filtered as the demo's generator says), and every two gate codes asked
together as the demo's two-code products are, but about half its facts (37), so a training test
on it fits in CI.

Usage: PYTHONPATH=examples/data python tests/data/skerrow/make_dataset.py [--out DIR]
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import factsheet
from factsheet import CodePair, Fact, Tables, Templates

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
            "How long is the crossing on {ref}?",
            "{ref} crossing time?",
            (
                "I'm meeting someone at the other end. If I take {ref}, how many minutes does the"
                " trip take?"
            ),
            "Could you tell me the duration of the sailing on the {ref} route?",
            (
                "How long should I budget for the ferry ride itself on {ref}, from leaving the "
                "pier to arriving?"
            ),
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
            "How much is an adult single fare on {ref}?",
            "{ref} single ticket price?",
            "I'm travelling on my own, one way, on {ref}. What will my ticket cost?",
            "I don't need a pass, just one trip for one grown-up on {ref}. How much is that?",
            "Could you please state the adult one-way fare for the {ref} route?",
            "I've only got a bit of cash on me. What does a single adult ticket for {ref} cost?",
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
            "What time is the first sailing on {ref}?",
            "{ref} first departure?",
            "I need to be across as early as possible. When does the earliest boat on {ref} leave?",
            (
                "I've got an early meeting. What's the earliest I can get going on {ref} in the "
                "morning?"
            ),
            (
                "Could you tell me the departure time of the first ferry of the day on the {ref} "
                "route?"
            ),
            "If I'm up at dawn, when is the first boat I could catch on {ref}?",
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
            "Which ship sails the {ref} route?",
            "{ref} vessel name?",
            (
                "My grandad used to crew on these ferries and wants to know which boat I'll be on"
                " for {ref}. Which one is it?"
            ),
            (
                "I'm trying to spot my boat from the pier. What's the name of the ferry that runs"
                " {ref}?"
            ),
            "Could you identify the vessel that operates the {ref} service?",
            "Which of your boats will I actually be sailing on if I take {ref}?",
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
        "Gate says {code}, what now?",
        (
            "I'm at the ticket gate and it won't let me through, it just shows {code}. What's "
            "going on and what should I do?"
        ),
        "Could you explain the meaning of gate code {code} and the action I should take?",
    ],
    [
        "The turnstile on the pier flashed {code} and won't open. What's going on?",
        "{code} came up when I scanned my ticket. How do I get through?",
    ],
)
GATE_ANSWER = "Gate code {code} means {meaning}; {fix}."
PAIR_QUESTIONS = (
    "The gate showed {first} and then {second}. What do they mean?",
    "What do gate codes {first} and {second} mean?",
    "Codes {first} and {second} at the gate: what do I do about each?",
    "I've had both {first} and {second} at the barrier. How do I get past them?",
)
"""Questions for two gate codes at once (``factsheet.add_code_pairs``)."""
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
            "How much does the {name} pass cost?",
            "I'm thinking about getting the {name}. How much money is it?",
            (
                "Before I decide whether the {name} is worth it for me, what does the pass itself"
                " cost?"
            ),
            "Could you please tell me the price of the {name} pass?",
            "My friend recommended the {name}. What would I pay for one?",
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
            "{name} - what's included?",
            "If I buy the {name}, where and for how long can I travel with it?",
            (
                "I'm planning a trip around the islands. Would the {name} let me use all the "
                "ferries, and for how long?"
            ),
            "What exactly do I get for my money with the {name}? Which sailings can I use it on?",
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
            "Bicycle policy?",
            (
                "I want to take my bicycle over to the island tomorrow. Is there a charge, and "
                "how many bikes fit on each sailing?"
            ),
            "Could you please explain your policy on carrying bicycles aboard?",
            (
                "Do I need to book or pay anything extra if I'm cycling and want to take my bike "
                "across?"
            ),
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
            "Can I bring my dog on the ferry?",
            "Dog policy?",
            (
                "I don't want to leave my spaniel at home. Can she come with me, and is there a "
                "charge or any rules?"
            ),
            (
                "We're travelling with our pet dog. Does he need a ticket, and where on the boat "
                "can he be?"
            ),
            "Could you outline the conditions for travelling with a dog aboard your ferries?",
            (
                "Are pets allowed on your boats? What does it cost to take my dog across and are "
                "there rules I should know?"
            ),
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
            "What is your refund policy?",
            "Refund rules?",
            (
                "I booked a ticket but now I can't go. Until when can I cancel for a full refund,"
                " and what happens if I'm too late?"
            ),
            "Could you please explain the conditions for a ticket refund?",
            "I'm sick and won't be travelling today. Is it too late to get my ticket money back?",
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
            "When are sailings cancelled because of weather?",
            "Bad weather policy?",
            (
                "It is very windy out there. Will my boat still go, and how will I find out if it"
                " doesn't?"
            ),
            (
                "I'm worried about a storm tomorrow. How windy does it have to get before you "
                "stop sailing, and when would I be told?"
            ),
            (
                "Could you describe the criteria for weather-related cancellations and how they "
                "are announced?"
            ),
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
            "How early do I need to check in?",
            "Check-in time?",
            (
                "I'm just walking on without a car. How long before departure do I need to be at "
                "the gate?"
            ),
            "Could you please state the check-in deadlines for foot passengers and vehicles?",
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
            "What happens to lost property left on board?",
            "Lost property?",
            "I think I left my rucksack on the ferry yesterday. Where can I go to get it back?",
            (
                "Could you explain how items left aboard your vessels are handled and where they "
                "can be collected?"
            ),
            (
                "I forgot my phone on the ferry. How long will you hold onto it, and where do I "
                "pick it up?"
            ),
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
            "Who founded Skerrow Sound Ferries, and when?",
            "Company history?",
            (
                "I'm curious about the ferry company I'm travelling with. Who started it and how "
                "long has it been running?"
            ),
            (
                "Is Skerrow Sound Ferries an old family business or something new? When was it "
                "set up and by whom?"
            ),
            "Could you provide some background on the founding of Skerrow Sound Ferries?",
            "Just wondering, how far back does your company go, and who got it started?",
        ],
        ["How long has this ferry operator been going, and who set it up?"],
    ),
}


def code_pairs(tables: Tables) -> Iterator[CodePair]:
    """Every two gate codes: any gate code can be mistaken for any other."""
    gates = tables["Gate codes"]
    for i, first in enumerate(gates):
        for second in gates[i + 1 :]:
            yield CodePair(
                [""],
                (first["code"], second["code"]),
                (GATE_ANSWER.format(**first), GATE_ANSWER.format(**second)),
            )


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
    code_pairs=code_pairs,
    pair_questions=PAIR_QUESTIONS,
)


def render() -> dict[str, str]:
    """File name -> content of every generated file."""
    return factsheet.render(DOMAIN)


if __name__ == "__main__":
    factsheet.main(DOMAIN)
