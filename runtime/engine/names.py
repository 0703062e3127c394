"""Generated run names: ``adjective-animal``, easy to say and to tell apart in a list."""

from __future__ import annotations

import random

__all__ = ("generate_run_name",)

_ADJECTIVES = (
    "amber", "ancient", "bold", "brave", "bright", "calm", "clever", "cobalt", "crimson",
    "curious", "daring", "eager", "electric", "emerald", "fancy", "fearless", "gentle",
    "golden", "grumpy", "happy", "hidden", "humble", "icy", "indigo", "jolly", "keen",
    "lively", "lucky", "magenta", "merry", "mighty", "misty", "nimble", "noble", "olive",
    "patient", "polar", "proud", "quick", "quiet", "rapid", "rustic", "scarlet", "shiny",
    "silver", "smart", "sturdy", "sunny", "swift", "tan", "tidy", "tranquil", "vivid",
    "wandering", "warm", "wise", "witty", "zealous",
)  # fmt: skip
_ANIMALS = (
    "albatross", "alpaca", "badger", "beaver", "bison", "cheetah", "condor", "coyote",
    "crane", "dingo", "dolphin", "eagle", "falcon", "ferret", "finch", "fox", "gazelle",
    "gecko", "heron", "hippo", "ibis", "jackal", "jaguar", "kestrel", "koala", "lemur",
    "lynx", "marmot", "mink", "moose", "narwhal", "newt", "ocelot", "otter", "owl", "panda",
    "pelican", "puffin", "quail", "raccoon", "raven", "salmon", "seal", "sparrow", "stork",
    "tapir", "tiger", "toucan", "turtle", "viper", "walrus", "weasel", "wolf", "wombat",
    "yak", "zebra",
)  # fmt: skip


def generate_run_name() -> str:
    """A random ``adjective-animal`` name (not unique: run ids are)."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_ANIMALS)}"
