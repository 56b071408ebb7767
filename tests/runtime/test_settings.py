"""Command-line and environment configuration: bad values exit 2, --help, precedence."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from gateway.runtime import settings as config
from gateway.runtime.settings import OPTIONS, Settings, env_name, flag, load_settings

RUN_TIMEOUT = 30


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AOI_")}
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def run_gateway(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=clean_env(**env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


BAD_FLAGS = [
    (["--port", "70000"], "--port"),
    (["--port", "-1"], "--port"),
    (["--port", "abc"], "--port"),
    (["--log-level", "loud"], "--log-level"),
    (["--log-format", "xml"], "--log-format"),
    (["--inflight-window", "0"], "--inflight-window"),
    (["--max-frame-bytes", "10"], "--max-frame-bytes"),
    (["--request-rate", "fast"], "--request-rate"),
    (["--redis-url", "http://x"], "--redis-url"),
    (["--node-id", "has space"], "--node-id"),
    (["--ws-compression", "maybe"], "--ws-compression"),
    (["--drain-window", "20", "--drain-grace", "20"], "--drain-window"),
    (["--drain-window", "30", "--drain-grace", "10"], "--drain-window"),
]
BAD_ENV = [
    ({"AOI_PORT": "70000"}, "AOI_PORT"),
    ({"AOI_PORT": "abc"}, "AOI_PORT"),
    ({"AOI_LOG_LEVEL": "loud"}, "AOI_LOG_LEVEL"),
    ({"AOI_INFLIGHT_WINDOW": "0"}, "AOI_INFLIGHT_WINDOW"),
    ({"AOI_REDIS_URL": "http://x"}, "AOI_REDIS_URL"),
    ({"AOI_WS_COMPRESSION": "yes please"}, "AOI_WS_COMPRESSION"),
    ({"AOI_DRAIN_WINDOW": "25"}, "drain-window"),
]


def assert_refused(result: subprocess.CompletedProcess[str], name: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize(("args", "name"), BAD_FLAGS)
def test_bad_flag_exits_2(args: list[str], name: str) -> None:
    assert_refused(run_gateway(*args), name)


@pytest.mark.parametrize(("env", "name"), BAD_ENV)
def test_bad_environment_value_exits_2(env: dict[str, str], name: str) -> None:
    assert_refused(run_gateway(**env), name)


def test_bad_value_names_what_is_accepted() -> None:
    result = run_gateway("--port", "70000")
    assert "70000" in result.stderr and "0..65535" in result.stderr


def test_help_lists_every_option_and_its_variable() -> None:
    result = run_gateway("--help")
    assert result.returncode == 0
    help_text = " ".join(result.stdout.split())
    for option in OPTIONS:
        assert flag(option) in help_text, option.name
        assert env_name(option) in help_text, option.name
        assert option.help in help_text or option.help.split()[0] in help_text
    listed = set(re.findall(r"--[a-z][a-z-]+", help_text)) - {"--help"}
    assert listed == {flag(option) for option in OPTIONS}


def test_flag_and_env_names() -> None:
    by_name = {option.name: option for option in OPTIONS}
    assert flag(by_name["redis_url"]) == "--redis-url"
    assert env_name(by_name["redis_url"]) == "AOI_REDIS_URL"
    assert set(by_name) == set(Settings.__dataclass_fields__)


def test_defaults() -> None:
    settings = load_settings([], {})
    assert settings.host == "0.0.0.0"
    assert settings.port == 8080
    assert settings.redis_url is None
    assert settings.log_level == "info"
    assert settings.max_frame_bytes == 65536
    assert settings.inflight_window == 64
    assert settings.max_applications == 64
    assert settings.node_id == config.default_node_id()


def test_environment_over_default() -> None:
    env = {"AOI_PORT": "9000", "AOI_LOG_LEVEL": "DEBUG", "AOI_REDIS_URL": "redis://h:1/0"}
    settings = load_settings([], env)
    assert settings.port == 9000
    assert settings.log_level == "debug"
    assert settings.redis_url == "redis://h:1/0"


def test_switches_read_on_and_off() -> None:
    assert load_settings([], {}).ws_compression is False
    assert load_settings([], {"AOI_WS_COMPRESSION": "ON"}).ws_compression is True
    assert (
        load_settings(["--ws-compression", "off"], {"AOI_WS_COMPRESSION": "on"}).ws_compression
        is False
    )
    assert load_settings(["--ws-compression", "true"], {}).ws_compression is True


def test_flag_over_environment() -> None:
    env = {"AOI_PORT": "9000", "AOI_NODE_ID": "from-env", "AOI_REQUEST_RATE": "7"}
    settings = load_settings(["--port", "9001", "--node-id", "from-flag"], env)
    assert settings.port == 9001
    assert settings.node_id == "from-flag"
    assert settings.request_rate == 7.0


def test_empty_environment_value_is_unset() -> None:
    assert load_settings([], {"AOI_PORT": ""}).port == 8080


def test_bad_environment_value_ignored_when_flag_given() -> None:
    settings = load_settings(["--port", "1234"], {"AOI_PORT": "not-a-port"})
    assert settings.port == 1234


def test_bad_value_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        load_settings(["--inflight-window", "0"], {})
    assert stopped.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "--inflight-window" in err[0]


def test_drain_window_must_be_shorter_than_grace(capsys: pytest.CaptureFixture[str]) -> None:
    assert load_settings(["--drain-window", "1", "--drain-grace", "2"], {}).drain_window == 1.0
    with pytest.raises(SystemExit) as stopped:
        load_settings([], {"AOI_DRAIN_WINDOW": "3", "AOI_DRAIN_GRACE": "3"})
    assert stopped.value.code == 2
    assert "drain" in capsys.readouterr().err


MODE_CLASHES = [
    (["--redis-url", "redis://h:1", "--redis-cluster", "h:2"], {}),
    (["--redis-sentinel", "h:1"], {"AOI_REDIS_CLUSTER": "h:2,h:3"}),
    ([], {"AOI_REDIS_URL": "redis://h:1", "AOI_REDIS_SENTINEL": "h:1"}),
    (["--redis-url", "unix:///r.sock", "--redis-sentinel", "h:1", "--redis-cluster", "h:2"], {}),
]


@pytest.mark.parametrize(("args", "env"), MODE_CLASHES)
def test_more_than_one_redis_mode_exits_2_with_one_line(
    args: list[str], env: dict[str, str]
) -> None:
    result = run_gateway(*args, **env)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "exclude each other" in lines[0], result.stderr


def test_each_redis_mode_alone_is_accepted() -> None:
    assert load_settings(["--redis-cluster", "h:1,h:2"], {}).redis_cluster == "h:1,h:2"
    sentinel = load_settings(["--redis-sentinel", "h:26379"], {"AOI_REDIS_SENTINEL_SERVICE": "s"})
    assert (sentinel.redis_sentinel, sentinel.redis_sentinel_service) == ("h:26379", "s")
    for url in ("redis://h:1/0", "rediss://h:1", "unix:///tmp/r.sock"):
        assert load_settings(["--redis-url", url], {}).redis_url == url
    with pytest.raises(SystemExit):
        load_settings(["--redis-cluster", "h"], {})  # no port
