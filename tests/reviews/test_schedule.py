"""When occurrences run: month ends, leap years, time zones and daylight saving, end rules."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from roles.reviews import schedule
from roles.reviews.choices import EndType, Recurrence
from roles.reviews.schedule import Schedule


def plan(**overrides) -> Schedule:
    values = {
        "start_date": date(2027, 1, 31),
        "time_zone": "UTC",
        "duration_days": 14,
        "recurrence": Recurrence.MONTHLY,
    }
    return Schedule(**(values | overrides))


def starts(schedule_: Schedule, count: int) -> list[date]:
    return [schedule.start_date_of(schedule_, number) for number in range(1, count + 1)]


def test_monthly_on_the_31st_runs_on_each_month_end_and_returns_to_the_31st():
    assert starts(plan(), 5) == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
    ]


def test_monthly_on_the_29th_meets_a_leap_february():
    assert starts(plan(start_date=date(2027, 12, 29)), 4) == [
        date(2027, 12, 29),
        date(2028, 1, 29),
        date(2028, 2, 29),
        date(2028, 3, 29),
    ]


@pytest.mark.parametrize(
    ("recurrence", "expected"),
    [
        (Recurrence.WEEKLY, [date(2027, 1, 31), date(2027, 2, 7), date(2027, 2, 14)]),
        (Recurrence.QUARTERLY, [date(2027, 1, 31), date(2027, 4, 30), date(2027, 7, 31)]),
        (Recurrence.SEMIANNUAL, [date(2027, 1, 31), date(2027, 7, 31), date(2028, 1, 31)]),
        (Recurrence.ANNUAL, [date(2027, 1, 31), date(2028, 1, 31), date(2029, 1, 31)]),
    ],
)
def test_each_recurrence_counts_from_the_anchor(recurrence, expected):
    assert starts(plan(recurrence=recurrence, duration_days=3), 3) == expected


def test_annual_review_anchored_on_february_29th_runs_on_the_28th_in_other_years():
    assert starts(plan(start_date=date(2028, 2, 29), recurrence=Recurrence.ANNUAL), 5) == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]


def test_shortest_periods_are_never_undercut_whatever_the_anchor():
    """Brute force over eight years of anchors: no two occurrences are closer than the
    shortest period the duration rule relies on, so occurrences never overlap."""
    for recurrence, shortest in schedule.SHORTEST_PERIOD_DAYS.items():
        day = date(2027, 1, 1)
        while day < date(2035, 1, 1):
            dates = starts(plan(start_date=day, recurrence=recurrence, duration_days=1), 6)
            gaps = [(later - earlier).days for earlier, later in zip(dates, dates[1:], strict=False)]
            assert min(gaps) >= shortest, (recurrence, day, gaps)
            day += timedelta(days=1 if recurrence != Recurrence.WEEKLY else 30)


def test_occurrences_start_at_local_midnight_across_a_daylight_saving_change():
    # Paris moves from UTC+1 to UTC+2 on 2027-03-28.
    paris = plan(start_date=date(2027, 3, 1), time_zone="Europe/Paris", duration_days=27)
    first_start, first_end = schedule.window(paris, 1)
    second_start, _ = schedule.window(paris, 2)
    assert first_start == datetime(2027, 2, 28, 23, 0, tzinfo=UTC)
    assert first_end == datetime(2027, 3, 27, 23, 0, tzinfo=UTC)  # 2027-03-28 00:00 in Paris, still winter time
    assert second_start == datetime(2027, 3, 31, 22, 0, tzinfo=UTC)  # 2027-04-01 00:00 in Paris, summer time


def test_a_window_ending_after_the_change_is_an_hour_short_in_utc_but_whole_days_locally():
    paris = plan(
        start_date=date(2027, 3, 27), time_zone="Europe/Paris", duration_days=2, recurrence=Recurrence.ONE_TIME
    )
    start, end = schedule.window(paris, 1)
    assert end - start == timedelta(hours=47)


def test_a_time_zone_east_of_utc_starts_the_day_before_in_utc():
    tokyo = plan(start_date=date(2027, 6, 1), time_zone="Asia/Tokyo", recurrence=Recurrence.ONE_TIME)
    assert schedule.window(tokyo, 1)[0] == datetime(2027, 5, 31, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("overrides", "runs"),
    [
        ({"recurrence": Recurrence.ONE_TIME}, [True, False]),
        ({"end_type": EndType.NEVER}, [True, True, True, True]),
        ({"end_type": EndType.AFTER_COUNT, "end_after_occurrences": 3}, [True, True, True, False]),
        # Starts Jan 31, Feb 28, Mar 31: the one on Mar 31 is after the end date.
        ({"end_type": EndType.ON_DATE, "end_date": date(2027, 3, 30)}, [True, True, False, False]),
        ({"end_type": EndType.ON_DATE, "end_date": date(2027, 3, 31)}, [True, True, True, False]),
    ],
)
def test_end_rules(overrides, runs):
    assert [schedule.has_occurrence(plan(**overrides), number) for number in range(1, len(runs) + 1)] == runs


def refusal(schedule_: Schedule) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        schedule.check_schedule(schedule_)
    return caught.value.message_dict


@pytest.mark.parametrize(
    ("recurrence", "longest"),
    [
        (Recurrence.WEEKLY, 6),
        (Recurrence.MONTHLY, 27),
        (Recurrence.QUARTERLY, 88),
        (Recurrence.SEMIANNUAL, 180),
        (Recurrence.ANNUAL, 180),
        (Recurrence.ONE_TIME, 180),
    ],
)
def test_duration_is_shorter_than_the_period(recurrence, longest):
    schedule.check_schedule(plan(recurrence=recurrence, duration_days=longest))
    errors = refusal(plan(recurrence=recurrence, duration_days=longest + 1))
    assert errors["duration_days"][0].startswith(f"Duration: a {Recurrence(recurrence).label.lower()} review lasts")
    assert f"from 1 to {longest} days" in errors["duration_days"][0]
    assert f"{longest + 1} were given" in errors["duration_days"][0]


def test_weekly_message_names_the_period():
    assert refusal(plan(recurrence=Recurrence.WEEKLY, duration_days=14))["duration_days"] == [
        "Duration: a weekly review lasts from 1 to 6 days, shorter than its shortest period (7 days); 14 were given."
    ]


def test_end_before_start_is_refused():
    errors = refusal(plan(end_type=EndType.ON_DATE, end_date=date(2027, 1, 30)))
    assert errors["end_date"] == [
        "End date: 2027-01-30 is before the start date 2027-01-31; the review would never run."
    ]


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"end_type": EndType.ON_DATE}, "end_date", "End date: required"),
        ({"end_type": EndType.AFTER_COUNT}, "end_after_occurrences", "from 1 to 100; none were given"),
        ({"end_type": EndType.AFTER_COUNT, "end_after_occurrences": 101}, "end_after_occurrences", "101 were given"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "'Mars/Olympus' is not a time zone name"),
        (
            {"recurrence": Recurrence.ONE_TIME, "end_type": EndType.AFTER_COUNT, "end_after_occurrences": 2},
            "end_type",
            "a one-time review runs once",
        ),
        ({"duration_days": 0}, "duration_days", "0 were given"),
        ({"time_zone": ""}, "time_zone", "'' is not a time zone name"),
        ({"end_date": date(2027, 6, 1)}, "end_date", "End date: only for a review that ends on a date"),
        ({"end_after_occurrences": 3}, "end_after_occurrences", "Number of occurrences: only for a review that ends"),
    ],
)
def test_other_bad_schedules_name_their_field(overrides, field, text):
    assert text in refusal(plan(**overrides))[field][0]
