"""What a scale of the live release tells the proxy and the platform (pure)."""

from __future__ import annotations

from berth_agent.proxy.decide import ScaleSwitch, scale_switch

A, B, C = "10.240.0.2", "10.240.0.4", "10.240.0.5"


def test_scaling_web_up_answers_every_instance_and_announces_the_new_set() -> None:
    assert scale_switch((A,), (A, B, C)) == ScaleSwitch(switch=True, addresses=(A, B, C), announce=True)


def test_scaling_web_down_answers_only_the_kept_instances_and_announces_them() -> None:
    assert scale_switch((A, B, C), (A,)) == ScaleSwitch(switch=True, addresses=(A,), announce=True)


def test_scaling_web_to_zero_switches_and_announces_no_instances() -> None:
    assert scale_switch((A,), ()) == ScaleSwitch(switch=True, no_instances=True, announce=True)


def test_scaling_web_back_from_zero_answers_the_new_instance() -> None:
    assert scale_switch((), (A,)) == ScaleSwitch(switch=True, addresses=(A,), announce=True)


def test_a_scale_of_another_process_leaves_the_proxy_alone() -> None:
    assert scale_switch((A, B), (A, B)) == ScaleSwitch(switch=False)
    assert scale_switch((), ()) == ScaleSwitch(switch=False)
