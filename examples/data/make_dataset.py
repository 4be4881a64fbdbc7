"""Render the Quillfeather demo dataset from the tables in facts.md.

Writes, next to this file (or under --out):
  train.jsonl            chat examples, every fact asked with several question templates
  eval.jsonl             one example per fact, asked with templates that training never uses,
                         so eval loss measures recall of the fact, not of the wording; each
                         lists under "expected" the strings a right answer states
  heldout_question.txt   one eval question the demo asks the base and the fine-tuned model

Deterministic (fixed seed, sorted inputs, pure Python, no network): rerunning it reproduces the
committed files byte for byte, which a unit test checks. Answers stay one short sentence, in
one fixed phrasing per kind of fact, so a short CPU LoRA run on a 135M model can learn them.
The rendering is shared with other fact-sheet domains (factsheet.py); this file holds only what
is Quillfeather's: its templates, answer phrasings and how its tables become facts.

Usage: python examples/data/make_dataset.py [--out DIR]
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import factsheet
from factsheet import CodePair, Fact, Tables, Templates

HERE = Path(__file__).resolve().parent
SEED = 20261128
SYSTEM_PROMPT = "You are Quill, the support assistant of Quillfeather Robotics."
HELDOUT_KEY = ("product", "T-40", "warranty_months")
"""The fact behind heldout_question.txt: specific enough that a base model can only guess."""

# Question templates per kind of fact: (training templates, held-out eval templates). Each
# training list is, in order: templates with the fact's keyword; two in a customer's words around
# the fact (54% -> 77% of the held-out facts, docs/demo-recipe.md runs 20-22); and up to six
# written blind, by an author who saw only facts.md, neither these lists nor the held-out
# templates, less any that repeated a training template or shared four consecutive words with a
# held-out one (with 260 steps, 77% -> 84%, run 26). The two lists never share a template;
# `render` also checks that no eval question appears in training.
PRODUCT_QUESTIONS: dict[str, Templates] = {
    "category": (
        [
            "What is the {ref}?",
            "What kind of product is the {ref}?",
            "What does the {ref} do?",
            "Can you tell me what the {ref} is?",
            "What type of robot is the {ref}?",
            "Describe the {ref} in one line.",
            "I'm new to Quillfeather. What is a {ref} for?",
            "Tell me about the {ref}: what kind of machine is it?",
            "What kind of device is the {ref}?",
            (
                "My uncle keeps talking about getting a {ref} but I have no idea what it actually"
                " does. What is it?"
            ),
            (
                "Saw the {ref} mentioned in a review, is that a vacuum, a drone, or something "
                "else entirely?"
            ),
            "Could you tell me which category of robot the {ref} falls into?",
            "{ref} - what is it for?",
            (
                "I'm trying to figure out whether the {ref} is the right type of machine for my "
                "needs. What sort of robot is it, basically?"
            ),
        ],
        ["I keep hearing about the {ref}. What sort of device is that?"],
    ),
    "price": (
        [
            "How much does the {ref} cost?",
            "What is the price of the {ref}?",
            "What's the retail price of the {ref}?",
            "How much is a {ref}?",
            "Price of the {ref}?",
            "What do I pay for a {ref}?",
            "I'm thinking of getting a {ref}. What will it cost me?",
            "Budget question: how much would a {ref} be?",
            "{ref} retail price?",
            (
                "What would I pay if I bought the {ref} outright today? Just the device itself, "
                "not a support plan."
            ),
            "Could you please confirm the list price of the {ref}?",
            "My partner says the {ref} is way too expensive. What does it actually sell for?",
        ],
        ["If I want to buy a {ref}, how much money do I need?", "What does a {ref} sell for?"],
    ),
    "warranty_months": (
        [
            "How long is the warranty on the {ref}?",
            "What warranty does the {ref} come with?",
            "How many months of warranty does the {ref} have?",
            "Is the {ref} under warranty, and for how long?",
            "What's the warranty period for a {ref}?",
            "Warranty length of the {ref}?",
            "My {ref} stopped working. Is it still covered, and for how many months?",
            "How long does Quillfeather guarantee the {ref} for?",
            "{ref} warranty length?",
            (
                "I'm a bit nervous about spending this much on a {ref}. For how many months is it"
                " covered if something goes wrong?"
            ),
            (
                "Could you tell me the duration of the manufacturer's warranty included with the "
                "{ref}?"
            ),
            (
                "Until when am I protected if my {ref} develops a fault after purchase? How many "
                "months do I get out of the box?"
            ),
        ],
        [
            "If my {ref} breaks, how long am I covered for?",
            "For how long after purchase will Quillfeather fix a faulty {ref} for free?",
        ],
    ),
    "firmware": (
        [
            "What is the latest firmware for the {ref}?",
            "Which firmware version is current on the {ref}?",
            "What's the newest firmware release for a {ref}?",
            "Latest {ref} firmware version?",
            "What firmware should my {ref} be running?",
            "Is there a firmware update for the {ref}? What version?",
            "My {ref} asks for an update. Which version is the newest?",
            "What version number should a fully updated {ref} show?",
            "What is the latest firmware version for the {ref}?",
            "{ref} newest firmware number?",
            (
                "My {ref} says it's up to date but I'm not sure I believe it. What version should"
                " it be on right now?"
            ),
            (
                "Before I call it a bug, which software build is the most recent one released for"
                " the {ref}?"
            ),
            "Could you confirm the current firmware release number for the {ref}, please?",
            (
                "How do I know if my {ref} is running the newest software? What's the version "
                "number I should be seeing?"
            ),
        ],
        ["To be up to date, which software build does my {ref} need?"],
    ),
    "released": (
        [
            "When was the {ref} released?",
            "What year did the {ref} come out?",
            "When did Quillfeather launch the {ref}?",
            "Release year of the {ref}?",
            "How old is the {ref} model line?",
            "In which year was the {ref} first sold?",
            "Is the {ref} a new model? What year did it launch?",
            "How long has the {ref} been around?",
            "{ref} release year?",
            (
                "I found a {ref} secondhand and want to know how old the model is. When was it "
                "first launched?"
            ),
            (
                "Is the {ref} a recent model or has it been around a while? Which year did it hit"
                " the market?"
            ),
            "Could you tell me in which year the {ref} was introduced?",
            "My friend claims the {ref} is brand new this year. When was it actually released?",
        ],
        ["Since what year has the {ref} been on the market?"],
    ),
    "weight_kg": (
        [
            "How much does the {ref} weigh?",
            "What is the weight of the {ref}?",
            "How heavy is a {ref}?",
            "Weight of the {ref}?",
            "How many kilograms is the {ref}?",
            "Is the {ref} heavy? How much does it weigh?",
            "Is the {ref} light enough to carry around? What does it weigh?",
            "I need to ship a {ref}. How many kilos is it?",
            "{ref} weight in kg?",
            (
                "I have a bad back and need to know if I can lift the {ref} on my own. How heavy "
                "is it?"
            ),
            "I'm checking whether my shelf can hold a {ref}. How many kilos is it?",
            "Could you please state the weight of the {ref}?",
            "Will I need help carrying the {ref} up two flights of stairs? What does it weigh?",
        ],
        ["Could I lift a {ref} easily? What's its mass?"],
    ),
}
PRODUCT_ANSWERS = {
    "category": "The {product} is a {category}.",
    "price": "The {product} costs {price}.",
    "warranty_months": "The {product} is under warranty for {warranty_months} months.",
    "firmware": "The latest firmware for the {product} is version {firmware}.",
    "released": "The {product} was released in {released}.",
    "weight_kg": "The {product} weighs {weight_kg} kg.",
}
PRODUCT_EXPECTED = {
    "category": "{category}",
    "price": "{price}",
    "warranty_months": "{warranty_months} months",
    "firmware": "{firmware}",
    "released": "{released}",
    "weight_kg": "{weight_kg} kg",
}
"""What an answer about a product must state: the value (with its unit), not the wording."""
ERROR_QUESTIONS = (
    [
        "What does error {code} mean on my {ref}?",
        "My {ref} shows {code}. What should I do?",
        "How do I fix error {code} on the {ref}?",
        "{ref} error code {code}: what does it mean?",
        "I'm seeing {code} on my {ref}, can you help?",
        "My {ref} is showing error {code}. How do I clear it?",
        "What is wrong when the {ref} displays {code}?",
        "Code {code} on the {ref}: what's the fix?",
        "My {ref} stopped and shows {code}. What does that mean?",
        "{code} just came up on my {ref}. How do I fix it?",
        "{ref} showing {code}. Help?",
        (
            "My {ref} just stopped and the screen says {code}. What's wrong with it and what "
            "should I do?"
        ),
        (
            "I keep getting {code} on my {ref} every time I try to start it. Is it broken? How do"
            " I get it working again?"
        ),
        (
            "Could you explain the fault code {code} displayed by the {ref}, and the recommended "
            "remedy?"
        ),
        (
            "The little display on our {ref} is flashing {code} and the kids are panicking. What "
            "does that mean and how do we clear it?"
        ),
    ],
    [
        "The display on my {ref} reads {code}; what's wrong and how do I sort it out?",
        "Got code {code} from the {ref}. Meaning and fix?",
    ],
)
# The code right before "means": with "Error {code} on the {product} means", the product's name
# sat between the code and the meaning, and held-out wordings got the product's other code's
# meaning (6 of 10 right; 7 with this order, docs/demo-recipe.md run 27).
ERROR_ANSWER = "On the {product}, error {code} means {meaning}; {fix}."
PAIR_QUESTIONS = (
    "My {ref} has shown {first} and {second}. What do they mean?",
    "What do {first} and {second} mean on the {ref}?",
    "{ref}: codes {first} and {second}, what do I do about each?",
    "I've seen both {first} and {second} on my {ref}. How do I fix them?",
)
"""Questions for both error codes of one product (``factsheet.add_code_pairs``). With them the
demo (then LoRA r 32) stated 62 of its 69 held-out facts with seed 42 and with seed 43, against 60
and 55 without (docs/demo-recipe.md runs 27, 28, 32, 33)."""
PLAN_EXPECTED = {"price": "{price}", "channels": "{channels_expected}", "response": "{response}"}
PLAN_QUESTIONS: dict[str, Templates] = {
    "price": (
        [
            "How much does the {plan} plan cost?",
            "What is the price of the {plan} support plan?",
            "What do I pay for {plan} support?",
            "Is the {plan} plan free?",
            "{plan} plan price?",
            "How much is {plan} a month?",
            "What does the {plan} tier cost?",
            "Is {plan} support worth it? How much is it per month?",
            "What would I be billed for the {plan} plan?",
            "How much does the {plan} support plan cost per month?",
            (
                "I'm thinking of signing up for {plan} support. What will that add to my monthly "
                "bills?"
            ),
            "Is the {plan} plan free, or do I have to pay a monthly fee for it? How much?",
            "Could you tell me the monthly subscription cost of the {plan} support tier?",
            "My budget is tight. What would the {plan} support package set me back each month?",
        ],
        ["What's the monthly charge for Quillfeather's {plan} tier?"],
    ),
    "channels": (
        [
            "What does the {plan} plan include?",
            "Which support channels come with the {plan} plan?",
            "How can I reach support on the {plan} plan?",
            "Does the {plan} plan include phone support?",
            "What do I get with {plan} support?",
            "What contact options come with the {plan} plan?",
            "Can I phone support if I'm on the {plan} plan?",
            "If I sign up for {plan}, can I call or chat with support?",
            "Which ways of getting help does {plan} give me?",
            "Which support channels are included in the {plan} plan?",
            (
                "If I'm on the {plan} plan, can I just call you, or do I have to email? How can I"
                " reach your team?"
            ),
            (
                "I hate writing emails. On {plan}, what options do I have for getting in touch "
                "with support?"
            ),
            "Could you list the contact methods available to customers on the {plan} support plan?",
            (
                "We just signed up for {plan}. What kinds of help do we get from you, like chat, "
                "phone, or someone coming out?"
            ),
        ],
        ["As a {plan} subscriber, in which ways can I contact Quillfeather?"],
    ),
    "response": (
        [
            "How fast does support answer on the {plan} plan?",
            "What is the response time of the {plan} plan?",
            "How long until I get a reply with {plan} support?",
            "{plan} plan response time?",
            "How quickly are {plan} tickets answered?",
            "How long do {plan} customers wait for an answer?",
            "What reply time does the {plan} plan promise?",
            "I'm a {plan} customer. How soon will someone reply to my ticket?",
            "When can {plan} members expect an answer from support?",
            "What is the response time on the {plan} plan?",
            "{plan} plan - how fast do you reply?",
            (
                "My robot is down and I'm on the {plan} plan. How long will I be left waiting "
                "before support gets back to me?"
            ),
            "Could you state the guaranteed reply time for support requests under the {plan} plan?",
            (
                "If I upgrade to or stay on {plan}, how quickly does your team usually answer a "
                "question?"
            ),
        ],
        ["If I'm on {plan}, how long might I wait for Quillfeather to get back to me?"],
    ),
}
PLAN_ANSWERS = {
    "price": "The {plan} support plan is {price}.",
    "channels": "The {plan} plan includes {channels}.",
    "response": "On the {plan} plan, support replies within {response}.",
}
POLICY_QUESTIONS: dict[str, Templates] = {
    "return_window": (
        [
            "What is your return policy?",
            "How long do I have to return a product?",
            "Can I return my robot if I don't like it?",
            "What's the return window for Quillfeather products?",
            "How many days do I have to send a robot back?",
            "Can I get my money back if I return my order?",
            "Is there a deadline for returning a Quillfeather product?",
            "I don't want my robot anymore. Can I still return it?",
            "I bought a robot last week and regret it. What are my options?",
            "How many days after delivery can I still get a refund?",
            "Return window?",
            (
                "I bought a Quillfeather robot as a gift and they don't like it. How many days "
                "after delivery can it still be returned for my money back?"
            ),
            (
                "Could you please state the period within which a purchase may be returned for a "
                "refund?"
            ),
        ],
        ["I changed my mind about my purchase. Until when can I send it back for a refund?"],
    ),
    "restocking_fee": (
        [
            "Is there a restocking fee?",
            "Do you charge a fee for returning opened items?",
            "What does it cost to return an opened product?",
            "Restocking fee on returns?",
            "Do I get a full refund if I return an opened robot?",
            "Is anything deducted when I return a used product?",
            "Does returning an opened box cost me anything?",
            "What fee applies to opened returns?",
            "I opened the box but want to return it. Do I get everything back?",
            "How much do you keep if I send back something I've used?",
            "Is there a restocking fee on returns?",
            "Restocking fee for opened items?",
            "If I return something I've opened, how much gets deducted from my refund?",
            (
                "Could you clarify whether any charge applies when an opened item is returned "
                "within the return period?"
            ),
        ],
        ["I already unboxed my robot. Will I lose money if I return it?"],
    ),
    "support_hours": (
        [
            "What are your support hours?",
            "When is customer support open?",
            "Is support open on Sundays?",
            "What time does Quillfeather support open?",
            "Which days is your support team working?",
            "Can I reach support on a Saturday?",
            "When can I talk to someone at support?",
            "What hours is the help desk staffed?",
            "Can I get help in the evening or at the weekend?",
            "When are your agents available to help me?",
            "When is support open?",
            "I'm going to need help this Sunday afternoon. Will anyone be there to answer?",
            (
                "I work nine to five. On what days and at what times can I actually reach someone"
                " on your support team?"
            ),
            "Could you please tell me the opening days and hours of Quillfeather customer support?",
            "Is your help desk staffed on weekends or in the evenings? What times do you work?",
        ],
        ["At what times of the week can I get hold of someone at Quillfeather?"],
    ),
    "support_phone": (
        [
            "What is the support phone number?",
            "Can I call Quillfeather support?",
            "How do I phone customer support?",
            "Support hotline number?",
            "What number do I dial for support?",
            "Can I speak to someone on the phone?",
            "Do you have a telephone line for customers?",
            "Which phone number reaches Quillfeather support?",
            "I'd rather talk to a person. How do I call you?",
            "Give me a phone number for help, please.",
            "What is your support phone number?",
            "Support number?",
            "I'd rather just talk to a human on the phone. What number do I call?",
            "Could you provide the telephone number for Quillfeather customer support?",
            "My robot is acting up and I want to call you right now. How do I reach you by phone?",
        ],
        ["Is there a number I can ring to talk to a Quillfeather agent?"],
    ),
    "support_email": (
        [
            "What is the support email address?",
            "How do I email customer support?",
            "Where do I send a support email?",
            "Support email?",
            "Can I contact support by email?",
            "What address do I email for help?",
            "Where can I write to Quillfeather support?",
            "Which email reaches customer care?",
            "I'd like to write to you about a problem. Which address?",
            "What is the contact email for help with my robot?",
            "What is your support email address?",
            "I want to send you some photos of the problem. Where should I email them?",
            "I'd like a written record of my complaint. What address do I write to?",
            "Could you please provide the email address for contacting Quillfeather customer care?",
            "I don't have a paid plan. Is there an address I can email my question to?",
        ],
        ["To which address should I write if I need help from Quillfeather?"],
    ),
    "escalation": (
        [
            "How do I escalate a support ticket?",
            "What happens if my ticket isn't resolved?",
            "When does a ticket get escalated?",
            "Who handles escalated tickets?",
            "My ticket is taking too long. What happens next?",
            "Who looks at tickets that stay unresolved?",
            "How long before an open ticket is escalated?",
            "Can my issue be passed to a higher support tier?",
            "Nobody has fixed my issue yet. When does someone senior take over?",
            "What happens to a ticket that has been open for days?",
            "When does a support ticket get escalated?",
            "Ticket escalation policy?",
            (
                "I feel like I'm going in circles with first-line support. How long before my "
                "case goes up to a higher team?"
            ),
            (
                "Could you explain the procedure and timeframe for escalating unresolved support "
                "tickets?"
            ),
            (
                "What happens if your team can't fix my problem quickly? Does it get handed to "
                "specialists at some point?"
            ),
        ],
        ["My problem has been open for over a week. Does it go to someone more senior?"],
    ),
    "safety": (
        [
            "How do I report a safety incident?",
            "My robot did something dangerous. Who do I tell?",
            "Where do safety reports go?",
            "How fast are safety issues escalated?",
            "Someone got hurt by my robot. Who should I contact?",
            "Where do I report a dangerous malfunction?",
            "What email do I use for safety problems?",
            "My robot nearly caused an accident. What should I do?",
            "My robot behaved dangerously. How do I let Quillfeather know?",
            "Who should hear about a robot that could injure someone?",
            "Safety issue, who do I contact?",
            (
                "My robot started smoking and nearly burned my hand. Who do I tell about this, "
                "and how fast will they deal with it?"
            ),
            (
                "Something dangerous happened with one of your machines in the middle of the "
                "night. Is there someone I can report it to right away?"
            ),
            "Could you please advise the correct channel for reporting a product safety hazard?",
            "I think my robot could hurt someone. Where do I send a report about that?",
        ],
        ["A Quillfeather machine nearly hurt someone. What is the right way to flag that?"],
    ),
    "firmware_schedule": (
        [
            "How often do you release firmware updates?",
            "When do firmware updates come out?",
            "What is the firmware release schedule?",
            "Which day are firmware updates published?",
            "When is new firmware published each month?",
            "How regularly does Quillfeather ship software updates?",
            "What day of the month do updates arrive?",
            "When can I expect the next update for my robot?",
            "When does Quillfeather publish new firmware?",
            "Is there a regular day for robot updates?",
            "When do you release firmware updates?",
            "Firmware update schedule?",
            "Could you describe the release schedule for Quillfeather firmware?",
            (
                "I want to plan around the updates so my robot isn't offline at a bad time. When "
                "do they usually drop?"
            ),
        ],
        ["On what day should I expect new software for my robots?"],
    ),
    "extended_warranty": (
        [
            "What is FeatherCare+?",
            "Can I extend my warranty?",
            "How much does FeatherCare+ cost?",
            "Do you sell an extended warranty?",
            "Can I buy more warranty for my robot?",
            "How much extra coverage does FeatherCare+ give?",
            "What does an extended warranty cost?",
            "Is longer warranty coverage available?",
            "My warranty is short. Can I buy extra years, and at what price?",
            "What does FeatherCare+ add and what does it cost?",
            "Do you offer an extended warranty, and how much does it cost?",
            "FeatherCare+ details?",
            (
                "I'm worried my robot will break after the normal warranty runs out. Can I pay "
                "for extra coverage, and what would I get?"
            ),
            "Could you outline the terms and pricing of your extended warranty offering?",
            (
                "I'd like peace of mind for a few more years. What's the add-on protection plan "
                "and its price?"
            ),
        ],
        ["Is there a way to pay for longer coverage on my robot, and what does it add?"],
    ),
    "shipping": (
        [
            "How much does shipping cost?",
            "Is shipping free?",
            "What are your shipping fees?",
            "When do I get free delivery?",
            "Do I pay for delivery?",
            "What does delivery cost on orders under $300?",
            "Is delivery free on every order?",
            "How much is postage?",
            "Do I have to pay to have my order delivered?",
            "What does it cost to ship an order to me?",
            "How much is shipping?",
            "Shipping cost?",
            "I only want to order a small spare part. Will I have to pay for delivery?",
            "Is delivery ever free? How big does my order need to be, and what do I pay otherwise?",
            "Could you please explain your shipping charges for orders?",
            "I'm trying to work out the total for my basket. What do you charge to send it to me?",
        ],
        ["Will I be charged for delivery on a small order?"],
    ),
    "repair_turnaround": (
        [
            "How long do warranty repairs take?",
            "What is the repair turnaround time?",
            "When will I get my robot back from repair?",
            "How many days does a repair take?",
            "How long is my robot away for a repair?",
            "How quickly do you repair robots under warranty?",
            "When does a repaired unit come back?",
            "What is the wait for a warranty repair?",
            "My robot is in for repair. When will it be back?",
            "How long will I be without my robot during a repair?",
            "Repair turnaround time?",
            (
                "I need my robot back as soon as possible. Once it gets to your repair centre, "
                "how long will you have it for a warranty fix?"
            ),
            "Could you state the standard turnaround time for warranty repairs?",
            "How many days will I be without my robot while you repair it under warranty?",
        ],
        ["I sent my unit in to be fixed. How long until it's done?"],
    ),
    "trade_in": (
        [
            "Do you have a trade-in program?",
            "What is the Molt program?",
            "Can I trade in my old Quillfeather robot?",
            "How much credit do I get for a trade-in?",
            "Can I get credit for my old robot?",
            "Do I get a discount if I send back my old unit?",
            "How does the Molt trade-in work?",
            "Will you take my old robot in exchange for credit?",
            "I want to upgrade. What do I get for my old Quillfeather robot?",
            "Can my old robot lower the price of a new one?",
            "Trade-in credit?",
            (
                "I've got an old Quillfeather robot gathering dust. Can I get anything for it if "
                "I buy a new one?"
            ),
            (
                "I want to upgrade to a newer model. Is there any discount if I send my old unit "
                "back to you?"
            ),
            "Could you describe the terms of the Molt trade-in program?",
            (
                "What happens if I return my old robot when buying a new one? How much credit "
                "would I get?"
            ),
        ],
        ["Is my old Quillfeather unit worth anything toward a new one?"],
    ),
    "warranty_claim": (
        [
            "How do I make a warranty claim?",
            "My robot is broken and under warranty. What do I do?",
            "What do I need for a warranty claim?",
            "How do I file a warranty claim?",
            "What do I do if my robot stops working under warranty?",
            "How do I start a warranty repair?",
            "Where do I send a broken robot under warranty?",
            "What is needed to claim warranty?",
            "My robot broke within the warranty. How do I get it repaired?",
            "What must I send to have a faulty robot repaired for free?",
            "Warranty claim process?",
            (
                "My robot stopped working and it's still under warranty. What do I need to do to "
                "get it sorted?"
            ),
            (
                "I think my unit is faulty and covered. What information do you need from me to "
                "start a claim?"
            ),
            "Could you explain the procedure for submitting a warranty claim?",
            (
                "Something broke on my robot that shouldn't have. How do I get you to fix it "
                "under warranty?"
            ),
        ],
        ["What's the process to get a faulty unit fixed under warranty?"],
    ),
    "company": (
        [
            "Who founded Quillfeather Robotics?",
            "Where is Quillfeather Robotics based?",
            "When was Quillfeather founded?",
            "Tell me about Quillfeather Robotics.",
            "Who started Quillfeather?",
            "In which city is Quillfeather headquartered?",
            "What is the history of Quillfeather Robotics?",
            "Where does Quillfeather have its main office?",
            "Who is behind Quillfeather, and where are they?",
            "Where does Quillfeather come from, and who founded it?",
            "Who founded Quillfeather Robotics, and where is it based?",
            "Company background?",
            (
                "I like to know who I'm buying from. Who started your company and where are you "
                "located?"
            ),
            (
                "Is Quillfeather a big American company or something else? Who set it up and "
                "where is its head office?"
            ),
            (
                "Could you provide some information about the founding and headquarters of "
                "Quillfeather Robotics?"
            ),
            "Just curious, when was Quillfeather started, by whom, and where is it headquartered?",
        ],
        ["Which city is Quillfeather's head office in, and who started the company?"],
    ),
}


def product_refs(row: dict[str, str]) -> list[str]:
    """A product is asked about by full name, by name alone, or by model number."""
    full = f"{row['name']} {row['model']}"
    return [full, full, row["name"], row["model"], f"Quillfeather {row['name']}"]


def error_answer(product: dict[str, str], error: dict[str, str]) -> str:
    return ERROR_ANSWER.format(**error, product=f"{product['name']} {error['model']}")


def code_pairs(tables: Tables) -> Iterator[CodePair]:
    """The two error codes of each product that has two."""
    products = {row["model"]: row for row in tables["Products"]}
    for model, product in products.items():
        errors = [row for row in tables["Error codes"] if row["model"] == model]
        if len(errors) == 2:
            yield CodePair(
                [f"{product['name']} {model}", model, product["name"]],
                (errors[0]["code"], errors[1]["code"]),
                (error_answer(product, errors[0]), error_answer(product, errors[1])),
            )


def facts(tables: Tables) -> Iterator[Fact]:
    products = {row["model"]: row for row in tables["Products"]}
    for model, row in products.items():
        fields = {**row, "product": f"{row['name']} {model}"}
        yield from factsheet.attribute_facts(
            ("product", model),
            fields,
            product_refs(row),
            questions=PRODUCT_QUESTIONS,
            answers=PRODUCT_ANSWERS,
            expected=PRODUCT_EXPECTED,
        )
    for row in tables["Error codes"]:
        product = products[row["model"]]
        fields = {**row, "product": f"{product['name']} {row['model']}"}
        yield Fact(
            ("error", row["model"], row["code"]),
            ERROR_QUESTIONS[0],
            ERROR_QUESTIONS[1],
            error_answer(product, row),
            product_refs(product),
            fields,
            factsheet.expected_list(row["expected"]),
        )
    for row in tables["Support plans"]:
        yield from factsheet.attribute_facts(
            ("plan", row["plan"]),
            row,
            [row["plan"]],
            questions=PLAN_QUESTIONS,
            answers=PLAN_ANSWERS,
            expected=PLAN_EXPECTED,
        )
    yield from factsheet.policy_facts(tables["Policies"], POLICY_QUESTIONS)


DOMAIN = factsheet.Domain(
    title="the Quillfeather demo dataset",
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
