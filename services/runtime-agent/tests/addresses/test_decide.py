from berth_agent.addresses.decide import choose, labelled_addresses
from berth_shared import labels

SUBNET = "10.9.0.16/28"


def test_labels_without_an_address_hold_none() -> None:
    found = labelled_addresses([{labels.ADDRESS: "10.9.0.20"}, {labels.SLOT: "a"}, {labels.ADDRESS: ""}])
    assert found == {"10.9.0.20"}


def test_the_lowest_free_address_of_the_shared_range_past_the_fixed_slots() -> None:
    assert choose(SUBNET, [], []) == "10.9.0.20"
    assert choose(SUBNET, ["10.9.0.20"], ["10.9.0.21"]) == "10.9.0.22"
    assert choose(SUBNET, ["10.9.0.21"], []) == "10.9.0.20"  # a freed address is used again


def test_a_full_range_gives_none() -> None:
    every = [f"10.9.0.{n}" for n in range(20, 31)]
    assert choose(SUBNET, every[:5], every[5:]) is None
