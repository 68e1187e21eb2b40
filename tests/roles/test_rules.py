def test_short_waits_read_in_the_largest_units():
    from datetime import timedelta

    from roles.rules import describe_duration

    assert [describe_duration(timedelta(seconds=s)) for s in (0.4, 4, 123, 120, 3600, 3900)] == [
        "under 1 s",
        "4 s",
        "2 min 3 s",
        "2 min",
        "1 h",
        "1 h 5 min",
    ]
