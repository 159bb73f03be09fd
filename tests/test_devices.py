"""Who typed, decided from the message id as well as the gateway's label (web/devices.py)."""

import pytest

from web import devices
from web.devices import Device, bare_id, decide, device_of_id, is_phone_activity

TRIGGERS = frozenset({"android", "ios", "app", "desktop"})
OWN_SEND = "3EB0C431D5B8C1F2A6E1F7"  # whatsapp-web.js, Baileys, WAHA: a gateway's own send


@pytest.mark.parametrize("message_id, bare", [
    ("3A5F1C2B9E0D4A7B8C11", "3A5F1C2B9E0D4A7B8C11"),
    (f"true_5511999990001@c.us_{OWN_SEND}", OWN_SEND),
    (f"false_5511999990001@c.us_{OWN_SEND}", OWN_SEND),
    (f"true_120363025246125888@g.us_{OWN_SEND}_5511888880000@c.us", OWN_SEND),
    (f"false_5511999990001@lid_{OWN_SEND}", OWN_SEND),
    ("true_only-a-chat", "true_only-a-chat"),
    ("true__3EB0C431D5B8C1F2A6E1F7", "true__3EB0C431D5B8C1F2A6E1F7"),
    ("maybe_5511@c.us_3A5F1C2B9E0D4A7B8C11", "maybe_5511@c.us_3A5F1C2B9E0D4A7B8C11"),
    (None, ""),
    (42, ""),
], ids=["evolution", "serialized", "from-a-contact", "group-participant", "lid-chat",
        "one-part", "empty-chat", "not-a-serialized-id", "none", "number"])
def test_the_bare_id_is_read_out_of_every_id_form(message_id, bare):
    assert bare_id(message_id) == bare


@pytest.mark.parametrize("bare, device", [
    ("3A5F1C2B9E0D4A7B8C11", "ios"),                        # 3A + 18
    (OWN_SEND, "web"),                                      # 3E + 20
    ("3EB0" + "A" * 20, "unknown"),                         # 3E + 22: not a web client
    ("ABCDEF0123456789ABCDE", "android"),                   # 21
    ("8F2C7A9D41B06E53D1C4A0F9E2B7C6D5", "android"),        # 32
    ("3F7D2A1C9B8E4F60A5D3", "desktop"),                    # 3F + anything
    ("0123456789ABCDEF01", "desktop"),                      # 18
    ("ABCDEF0123456789ABCD", "unknown"),                    # 20, no known prefix
    ("m1", "unknown"),
    ("", "unknown"),
])
def test_an_ids_shape_tells_its_device_as_baileys_get_device_does(bare, device):
    assert device_of_id(bare) == device


@pytest.mark.parametrize("label", ["android", "app", "ios", "desktop", "Android "])
def test_a_web_clients_id_is_web_whatever_the_label_says(label):
    device = decide(label, f"true_5511999990002@c.us_{OWN_SEND}")

    assert device == Device("web", label.strip().lower(), "message_id")
    assert device.overridden


def test_a_gateway_label_of_api_stays_api_even_with_a_web_clients_id():
    assert decide("api", OWN_SEND) == Device("api", "api", "label")


@pytest.mark.parametrize("label", [None, "", "  ", "unknown", "UNKNOWN", 7, "\ud800"],
                         ids=["absent", "empty", "blank", "unknown", "upper", "number",
                              "surrogate"])
@pytest.mark.parametrize("message_id, device", [
    ("3A2B4C6D8E0F1A3B5C7D", "ios"),
    ("true_5511999990001@c.us_A41F09C2D7E35B8861C0F4D2E9B7A315", "android"),
    ("3F6A5B4C3D2E1F0A9B8C", "desktop"),
    ("m1", "unknown"),
])
def test_without_a_usable_label_the_id_decides(label, message_id, device):
    decided = decide(label, message_id)

    assert (decided.type, decided.decided_by) == (device, "message_id")
    assert not decided.overridden


def test_otherwise_the_gateways_label_is_the_device():
    assert decide("Android", "true_5511999990001@c.us_3A2B4C6D8E0F1A3B5C7D") \
        == Device("android", "android", "label")
    assert decide("app", "3A2B4C6D8E0F1A3B5C7D") == Device("app", "app", "label")


@pytest.mark.parametrize("device, triggers, activity", [
    ("api", TRIGGERS, False),
    ("api", TRIGGERS | {"api"}, False),
    ("web", TRIGGERS, False),
    ("web", TRIGGERS | {"web"}, True),
    ("desktop", TRIGGERS, True),
    ("unknown", TRIGGERS, True),
])
def test_api_is_never_phone_activity_and_web_only_when_listed(device, triggers, activity):
    assert is_phone_activity(Device(device, None, "label"), triggers) is activity


def test_the_gateway_device_message_says_which_id_overrode_which_label():
    device = decide("android", f"true_5511999990002@c.us_{OWN_SEND}")

    message = devices.why_not_activity(device, f"true_5511999990002@c.us_{OWN_SEND}")

    assert OWN_SEND in message and "'android'" in message and "5511999990002" not in message
