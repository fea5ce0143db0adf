"""English phrases of the kinds a traveller photographs (signs, menus, directions), from a small grammar.

Deterministic: `phrases()` lists every phrase the grammar makes, in a fixed order; `split` shuffles them
with a fixed seed into training and held-out sets (no phrase is in both). Words are chosen so that Apertium
eng-spa knows them: the targets are its translations (sequence-level distillation, as the issue asks).
"""

from __future__ import annotations

import itertools
import random

PLACES = ["museum", "library", "bank", "pharmacy", "station", "market", "church", "hospital", "school", "hotel"]
SHOPS = ["shop", "bakery", "restaurant", "office", "garden", "pool", "kitchen", "bar"]
WHEN = ["today", "on Sundays", "every day", "until noon", "in August", "at night", "on Mondays", "tomorrow"]
FORBIDDEN = ["parking", "smoking", "entry", "dogs", "swimming", "photos", "fishing", "camping", "bicycles"]
FACILITIES = ["Toilets", "Tickets", "Information", "Exit", "Entrance", "Parking", "Lifts", "Stairs", "Taxis"]
WHERE = ["on the left", "on the right", "upstairs", "downstairs", "ahead", "here", "behind the station"]
REQUESTS = [
    "do not touch",
    "keep the door closed",
    "wait here",
    "turn off your phone",
    "use the stairs",
    "close the gate",
    "pay here",
    "keep left",
    "keep right",
    "speak quietly",
]
DISHES = ["chicken", "fish", "bread", "soup", "rice", "salad", "cheese", "beef", "potatoes", "eggs", "pork"]
COOKED = ["Grilled", "Fried", "Roasted", "Fresh", "Hot", "Cold", "Small", "Big"]
SIDES = ["", " with rice", " with salad", " and bread", " with cheese", " with potatoes"]
DRINKS = ["coffee", "tea", "water", "milk", "beer", "wine", "orange juice", "apple juice"]
LANDMARKS = ["station", "church", "bank", "bridge", "park", "hospital", "school", "museum", "market", "hotel"]
DESTINATIONS = ["airport", "beach", "hotel", "city", "train station", "museum", "port", "old town", "university"]
NUMBERS = ["two", "three", "five", "ten", "twenty"]
UNITS = ["minutes", "kilometres", "hours"]
HOURS = ["eight", "nine", "ten", "noon", "midnight", "six"]


def phrases() -> list[str]:
    """Every phrase of the grammar, without repeats, in a fixed order."""
    made: list[str] = []
    made += [f"No {thing}" for thing in FORBIDDEN]
    made += [f"No {thing} {when}" for thing, when in itertools.product(FORBIDDEN, WHEN)]
    made += [f"{facility} {where}" for facility, where in itertools.product(FACILITIES, WHERE)]
    made += [
        f"The {place} is {state} {when}"
        for place, state, when in itertools.product(PLACES + SHOPS, ("open", "closed"), WHEN)
    ]
    made += [f"Please {request}" for request in REQUESTS]
    made += [f"Please {request} {when}" for request, when in itertools.product(REQUESTS, WHEN[:4])]
    made += [
        f"{cooked} {dish}{side}"
        for cooked, dish, side in itertools.product(COOKED, DISHES, SIDES)
        if not side.endswith(dish)
    ]
    made += [f"{cooked} {drink}" for cooked, drink in itertools.product(("Hot", "Cold", "Fresh"), DRINKS)]
    made += [f"Turn {side} at the {landmark}" for side, landmark in itertools.product(("left", "right"), LANDMARKS)]
    made += [
        f"The {destination} is {number} {unit} away"
        for destination, number, unit in itertools.product(DESTINATIONS, NUMBERS, UNITS)
    ]
    made += [
        f"The {destination} is {number} {unit} from the {landmark}"
        for destination, number, unit, landmark in itertools.product(DESTINATIONS, NUMBERS, UNITS, LANDMARKS)
        if destination != landmark
    ]
    made += [
        f"The {place} {verb} at {hour}"
        for place, verb, hour in itertools.product(PLACES + SHOPS, ("opens", "closes"), HOURS)
    ]
    made += [f"Welcome to the {place}" for place in PLACES + SHOPS + DESTINATIONS]
    made += [f"Where is the {place}?" for place in PLACES + SHOPS + DESTINATIONS]
    made += [f"A table for {number}, please" for number in NUMBERS]
    made += [f"Follow the signs to the {destination}" for destination in DESTINATIONS]
    made += [f"Go straight to the {landmark}" for landmark in LANDMARKS]
    return list(dict.fromkeys(made))


def split(held_out: int = 400, seed: int = 0) -> tuple[list[str], list[str]]:
    """(training phrases, held-out phrases): a fixed shuffle, the last `held_out` kept apart."""
    every = phrases()
    random.Random(seed).shuffle(every)
    return every[:-held_out], every[-held_out:]
