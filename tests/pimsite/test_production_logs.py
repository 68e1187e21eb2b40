"""Production logs: one JSON object per line, with what was passed in `extra=`."""

import json
import logging

from pimsite.logs import JsonFormatter


def test_a_record_is_one_json_line_with_its_extras():
    record = logging.makeLogRecord({"name": "pim.sweep", "levelname": "WARNING", "msg": "expired %s",
                                    "args": (3,), "created": 0, "request_id": "abc"})  # fmt: skip
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line) == {"time": "1970-01-01T00:00:00.000+00:00", "level": "WARNING", "logger": "pim.sweep",
                                "message": "expired 3", "request_id": "abc"}  # fmt: skip


def test_an_exception_is_kept_in_the_line():
    try:
        raise ValueError("broken target")
    except ValueError:
        record = logging.makeLogRecord({"msg": "failed", "exc_info": __import__("sys").exc_info()})
    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError: broken target" in entry["exception"]
