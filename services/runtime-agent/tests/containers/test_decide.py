from __future__ import annotations

from berth_agent.containers.decide import (
    container_config,
    container_name,
    instance_config,
    neighbour_retrans_setting,
    network_config,
    network_name,
    one_off_config,
)
from berth_shared import labels
from berth_shared.contracts.desired import DesiredApp, DesiredRelease, Resources
from berth_shared.contracts.processes import ProcessSpec

INSTANCE = "inst1"


def app(**overrides: object) -> DesiredApp:
    fields: dict[str, object] = {
        "app_id": "0123456789abcdef0123",
        "name": "shop",
        "hostname": "shop.berth.test",
        "port": 8080,
        "subnet": "10.240.0.16/28",
    }
    fields.update(overrides)
    return DesiredApp(**fields)  # type: ignore[arg-type]


def release(**overrides: object) -> DesiredRelease:
    fields: dict[str, object] = {"release_id": "abcdef0123456789", "image": "berth-test/web:v1"}
    fields.update(overrides)
    return DesiredRelease(**fields)  # type: ignore[arg-type]


def env_of(config: dict[str, object]) -> dict[str, str]:
    entries = config["Env"]
    assert isinstance(entries, list)
    return dict(e.split("=", 1) for e in entries)


def test_hardening_is_always_applied() -> None:
    host = container_config(app(), release(), "a", INSTANCE)["HostConfig"]
    assert host["Privileged"] is False
    assert host["CapDrop"] == ["ALL"]
    assert host["CapAdd"] == []
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["Binds"] == [] and host["Mounts"] == [] and host["Devices"] == []
    assert host["PortBindings"] == {} and host["PublishAllPorts"] is False
    assert host["NetworkMode"] == network_name(INSTANCE, app().app_id)
    assert host["IpcMode"] == "private" and host["PidMode"] == "" and host["UTSMode"] == ""
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "50m", "max-file": "2"}}
    assert host["RestartPolicy"] == {"Name": "no"}


def test_an_init_process_forwards_sigterm_so_the_old_slot_stops_promptly() -> None:
    assert container_config(app(), release(), "a", INSTANCE)["HostConfig"]["Init"] is True


def test_default_limits() -> None:
    host = container_config(app(), release(), "a", INSTANCE)["HostConfig"]
    assert host["Memory"] == 256 * 1024 * 1024
    assert host["MemorySwap"] == host["Memory"]
    assert host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 256


def test_declared_limits() -> None:
    resources = Resources(memory_mb=512, cpus=1.25, pids=64)
    host = container_config(app(resources=resources), release(), "b", INSTANCE)["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (512 * 1024 * 1024, 1_250_000_000, 64)


def test_platform_env_is_injected_and_wins_over_the_release_env() -> None:
    env = env_of(container_config(app(), release(env={"DB": "x=y", "PORT": "1"}), "a", INSTANCE))
    assert env == {
        "DB": "x=y",
        "PORT": "8080",
        "BERTH_APP": "shop",
        "BERTH_RELEASE": "abcdef0123456789",
        "BERTH_HOSTNAME": "shop.berth.test",
    }


def test_identity_labels_name_and_slot_address() -> None:
    config = container_config(app(), release(), "b", INSTANCE)
    assert config["Labels"] == {
        labels.MANAGED: "true",
        labels.INSTANCE: INSTANCE,
        labels.APP: "0123456789abcdef0123",
        labels.APP_NAME: "shop",
        labels.RELEASE: "abcdef0123456789",
        labels.SLOT: "b",
    }
    endpoint = config["NetworkingConfig"]["EndpointsConfig"][network_name(INSTANCE, app().app_id)]
    assert endpoint == {"IPAMConfig": {"IPv4Address": "10.240.0.19"}}
    assert config["Image"] == "berth-test/web:v1"
    assert container_name(INSTANCE, "shop", "b", "abcdef0123456789") == "berth-inst1-shop-b-abcdef01"


def test_no_field_of_the_config_publishes_or_mounts_anything() -> None:
    config = container_config(app(), release(), "a", INSTANCE)
    assert "ExposedPorts" not in config and "Volumes" not in config
    assert config["HostConfig"].get("NetworkMode") not in ("host", "none")


def test_network_gets_the_apps_fixed_subnet() -> None:
    config = network_config(app(), INSTANCE)
    assert config["Name"] == "berth-inst1-0123456789ab"
    assert config["Driver"] == "bridge"
    assert config["IPAM"]["Config"] == [{"Subnet": "10.240.0.16/28", "Gateway": "10.240.0.17"}]
    assert config["Labels"][labels.APP] == app().app_id
    assert config["Labels"][labels.INSTANCE] == INSTANCE


def test_the_app_bridge_re_asks_for_an_unresolved_slot_every_100_ms() -> None:
    network_id = "3f2a9c01d4e5b6a7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1"
    assert neighbour_retrans_setting(network_id) == ("/proc/sys/net/ipv4/neigh/br-3f2a9c01d4e5/retrans_time_ms", "100")


def test_an_instance_of_a_process_is_as_hardened_as_web_with_its_own_command_address_and_limits() -> None:
    spec = ProcessSpec(name="worker", command=["python", "worker.py"], memory_mb=128)
    web = container_config(app(), release(), "b", INSTANCE)
    body = instance_config(app(), release(), "b", INSTANCE, spec=spec, index=1, address="10.240.0.21")
    assert body["Cmd"] == ["python", "worker.py"] and body["Image"] == web["Image"] and body["Env"] == web["Env"]
    assert body["Labels"] == web["Labels"] | {
        labels.PROCESS: "worker",
        labels.INDEX: "1",
        labels.ADDRESS: "10.240.0.21",
    }
    hardened = {k: v for k, v in web["HostConfig"].items() if k not in ("Memory", "MemorySwap")}
    assert {k: v for k, v in body["HostConfig"].items() if k not in ("Memory", "MemorySwap")} == hardened
    assert body["HostConfig"]["Memory"] == body["HostConfig"]["MemorySwap"] == 128 * 1024 * 1024
    [endpoint] = body["NetworkingConfig"]["EndpointsConfig"].values()
    assert endpoint == {"IPAMConfig": {"IPv4Address": "10.240.0.21"}}


def test_web_without_a_command_keeps_the_images_cmd_and_a_one_off_is_hardened_too() -> None:
    web = instance_config(app(), release(), "a", INSTANCE, spec=ProcessSpec(name="web"), index=0, address="10.240.0.18")
    assert "Cmd" not in web
    once = one_off_config(app(), release(), INSTANCE, process="release", command=["migrate"], address="10.240.0.20")
    assert once["Cmd"] == ["migrate"] and labels.SLOT not in once["Labels"]
    assert once["Labels"][labels.PROCESS] == "release" and once["Labels"][labels.RELEASE] == release().release_id
    assert once["HostConfig"] == container_config(app(), release(), "a", INSTANCE)["HostConfig"]
