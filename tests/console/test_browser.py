"""The console and the device page in real headless Chromium, against real nodes."""

from __future__ import annotations

import signal

import pytest

from tests.conftest import device_number
from tests.console.browser import (
    by_testid,
    connect_device,
    expect,
    register_application,
    send_from_console,
    wait_for_notification,
)

DEREGISTER_FROM_PAGE = """async ([url, clientID]) => {
  const { AoiDevice } = await import("/console/aoi-client.js");
  const other = await AoiDevice.connect(url, { reconnect: false });
  await other.deregister(clientID);
  await other.close();
  return true;
}"""


@pytest.mark.timeout(90)
def test_device_page_console_drain_and_deregistration(start_node, pages) -> None:
    held = start_node(drain_window=0.5, drain_grace=5)
    other = start_node()
    ws_list = f"{held.ws_url.replace('http', 'ws')},{other.ws_url.replace('http', 'ws')}"
    device = pages.open("device", f"{held.url}/console/device?ws={ws_list}")
    console = pages.open("console", f"{other.url}/console")
    number = device_number()
    client_id = connect_device(device, number)
    registration_id = register_application(device, "com.example.mail")
    console.wait_for_selector(f'[data-testid="node-row"][data-node-id="{held.node_id}"]')
    console.wait_for_selector(f'[data-testid="node-row"][data-node-id="{other.node_id}"]')
    assert by_testid(console, "auth-open").is_visible()  # no API keys: the console says so

    send_from_console(console, registration_id, "hello from the console")
    row = wait_for_notification(device, "hello from the console")
    by_testid(row, "notification-ack").click()
    console.wait_for_selector('[data-testid="send-status"][data-status="delivered"]')

    held.signal(signal.SIGTERM)  # drain the node that holds the page's channel
    device.wait_for_selector('[data-testid="device-event"][data-kind="close"][data-code="1001"]')
    send_from_console(console, registration_id, "sent meanwhile")
    device.wait_for_selector('[data-testid="device-event"][data-kind="reconnected"]')
    by_testid(wait_for_notification(device, "sent meanwhile"), "notification-ack").click()
    console.wait_for_selector('[data-testid="send-status"][data-status="delivered"]')
    assert held.wait(10) == 0

    by_testid(console, "client-by-number").check()
    by_testid(console, "client-query").fill(number)
    by_testid(console, "client-submit").click()
    console.wait_for_selector('[data-testid="client-channel"][data-active="true"]')
    assert by_testid(console, "client-node").text_content() == other.node_id
    assert by_testid(console, "client-id").text_content() == client_id

    second = pages.open("second", f"{other.url}/console/device")
    assert second.evaluate(DEREGISTER_FROM_PAGE, [other.ws_url.replace("http", "ws"), client_id])
    device.wait_for_selector('[data-testid="device-last-close"][data-code="4002"]')
    assert "deregistered" in str(by_testid(device, "device-last-close").text_content())
    assert pages.errors == []


@pytest.mark.timeout(90)
def test_console_with_api_keys_and_the_notification_lookup(start_node, pages, tmp_path) -> None:
    key = "console-admin-key-0123456789"
    keys = tmp_path / "keys"
    keys.write_text(f"{key} *\n")
    node = start_node(api_keys_file=str(keys))
    device = pages.open("device", f"{node.url}/console/device")
    console = pages.open("console", f"{node.url}/console")
    expect(by_testid(console, "key-form")).to_be_visible()  # keys configured, none given
    by_testid(console, "key-input").fill(key)
    by_testid(console, "key-submit").click()
    console.wait_for_selector(f'[data-testid="node-row"][data-node-id="{node.node_id}"]')
    expect(by_testid(console, "auth-status")).to_be_visible()

    connect_device(device, device_number())
    registration_id = register_application(device, "com.example.news")
    notification_id = send_from_console(console, registration_id, "look me up")
    by_testid(console, "send-lookup").click()
    expect(by_testid(console, "notification-result-id")).to_have_text(notification_id)
    by_testid(wait_for_notification(device, "look me up"), "notification-reject").click()
    status = by_testid(console, "notification-status")
    console.wait_for_selector('[data-testid="send-status"][data-status="rejected"]')
    by_testid(console, "notification-refresh").click()
    expect(status).to_have_attribute("data-status", "rejected")
    expect(by_testid(console, "notification-cancel")).to_be_disabled()
    assert pages.errors == []
