import io
import json

import pytest
import structlog

from keiba.common.logging import configure_logging, get_logger


@pytest.fixture(autouse=True)
def _reset_structlog():
    yield
    structlog.reset_defaults()


def test_json_lines_when_not_on_a_terminal() -> None:
    stream = io.StringIO()
    configure_logging("info", "auto", stream=stream)
    get_logger("test").info("import.done", races=3454, source="jra2018")
    get_logger("test").debug("hidden")
    (line,) = stream.getvalue().splitlines()
    event = json.loads(line)
    assert event["event"] == "import.done"
    assert event["races"] == 3454
    assert event["level"] == "info"
    assert event["timestamp"].endswith("Z")


def test_level_filters_events() -> None:
    stream = io.StringIO()
    configure_logging("warning", "json", stream=stream)
    get_logger("test").info("quiet")
    get_logger("test").warning("loud")
    assert [json.loads(x)["event"] for x in stream.getvalue().splitlines()] == ["loud"]


def test_default_stream_is_looked_up_at_each_event(capsys) -> None:
    configure_logging("info", "json")
    get_logger("test").info("first")
    assert json.loads(capsys.readouterr().err)["event"] == "first"
    get_logger("test").info("second")  # a fresh capture stream: still reaches it
    assert json.loads(capsys.readouterr().err)["event"] == "second"
