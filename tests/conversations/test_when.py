from datetime import datetime

from app.conversations.when import Span, time_span

NOW = datetime(2023, 8, 20, 15, 0)


def test_month_and_year() -> None:
    assert time_span("What did I do in May 2023?", NOW) == Span(datetime(2023, 5, 1), datetime(2023, 6, 1))
    assert time_span("plans for Dec 2022", NOW) == Span(datetime(2022, 12, 1), datetime(2023, 1, 1))


def test_last_month_name_is_the_most_recent_past_one() -> None:
    assert time_span("what happened last May", NOW) == Span(datetime(2023, 5, 1), datetime(2023, 6, 1))
    assert time_span("what happened last October", NOW) == Span(datetime(2022, 10, 1), datetime(2022, 11, 1))


def test_relative_amounts() -> None:
    span = time_span("the hike two weeks ago", NOW)
    assert (
        span is not None
        and span.start <= datetime(2023, 8, 6) < span.end
        and not span.start <= datetime(2023, 8, 20) < span.end
    )
    span = time_span("3 days ago", NOW)
    assert span is not None and span.start <= datetime(2023, 8, 17, 12) < span.end
    span = time_span("what did we discuss last week", NOW)
    assert span is not None and span.start <= datetime(2023, 8, 13) < span.end


def test_yesterday_and_a_bare_year() -> None:
    assert time_span("yesterday's dinner", NOW) == Span(datetime(2023, 8, 19), datetime(2023, 8, 20))
    assert time_span("the trip in 2022", NOW) == Span(datetime(2022, 1, 1), datetime(2023, 1, 1))


def test_no_time_named() -> None:
    assert time_span("What is my cat called?", NOW) is None
    assert time_span("I may go", NOW) is None  # "may" the verb is not May the month
