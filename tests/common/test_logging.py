import io
import json

from keiba.common.logging import configure_logging, get_logger


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
