"""The throttle a kernel asks of the browser's mouse moves (fomm_nb.widgets.updates.MovePacer), without a browser.

The pacer's target is any object with a ``wait`` attribute: here a stand-in
that records each value it is given (each one a widget message in an app).
The lag of moves left unread (ArrivalLag) is read from a real kernel's
message headers.
"""

import time
from datetime import datetime, timedelta, timezone

import pytest

from fomm_nb.serve.plan import MOVE_WAIT_VARIABLE, move_interval_ms
from fomm_nb.widgets.updates import CALM_UPDATES, FAST_WAIT_MS, SLOW_WAIT_MS, ArrivalLag, MovePacer


class Throttle:
    """What an ipyevents Event is to the pacer: a ``wait`` in ms; remembers every value set."""

    def __init__(self):
        self.sent = []

    @property
    def wait(self):
        return self.sent[-1]

    @wait.setter
    def wait(self, value):
        self.sent.append(value)


def updates(pacer, count, moves=1, seconds=0.0):
    """``count`` updates, each after ``moves`` moves, each taking ``seconds``."""
    for _ in range(count):
        for _ in range(moves):
            pacer.moved()
        with pacer.update():
            time.sleep(seconds)


@pytest.fixture
def pacer():
    return MovePacer(Throttle())


def test_a_single_student_on_an_idle_machine_keeps_the_fast_default(pacer):
    updates(pacer, 4 * CALM_UPDATES)  # one move per update, each drawn at once
    assert pacer.target.sent == [FAST_WAIT_MS]  # set once, never changed: no message to the browser


def test_updates_no_move_asked_for_leave_the_wait_as_it_is(pacer):
    updates(pacer, 1, moves=0, seconds=1.5 * FAST_WAIT_MS / 1000)  # the first drawing, a slider: slow or not
    assert pacer.target.sent == [FAST_WAIT_MS]


def test_skipped_moves_raise_the_wait_step_by_step_up_to_the_cap(pacer):
    updates(pacer, 6, moves=2)  # two moves came in before each update: the first was skipped
    assert pacer.target.sent == [FAST_WAIT_MS, 75, 112, 168, SLOW_WAIT_MS]  # one step per skipped move, then held


def test_a_flooded_kernel_raises_the_wait_as_the_moves_come_before_any_update(pacer):
    for _ in range(4):  # a backlog of moves read while the worker is still busy
        pacer.moved()
    assert pacer.target.sent == [FAST_WAIT_MS, 75, 112, 168]


def test_an_update_slower_than_the_interval_raises_the_wait(pacer):
    updates(pacer, 1, seconds=1.5 * FAST_WAIT_MS / 1000)  # no move skipped, but the next one came before it ended
    assert pacer.target.sent == [FAST_WAIT_MS, 75]


def test_when_the_updates_keep_up_the_wait_comes_back_down_to_the_fast_default(pacer):
    updates(pacer, 6, moves=2)
    assert pacer.target.wait == SLOW_WAIT_MS
    updates(pacer, CALM_UPDATES - 1)
    assert pacer.target.wait == SLOW_WAIT_MS  # not at the first calm update: a loaded machine has lulls
    updates(pacer, 1)
    assert pacer.target.wait == 120
    updates(pacer, 3 * CALM_UPDATES)
    assert pacer.target.sent[-4:] == [120, 80, 53, FAST_WAIT_MS]
    updates(pacer, 2 * CALM_UPDATES)
    assert pacer.target.wait == FAST_WAIT_MS


def test_a_late_update_starts_the_calm_count_again(pacer):
    updates(pacer, 1, moves=2)
    assert pacer.target.wait == 75
    updates(pacer, CALM_UPDATES - 1)
    updates(pacer, 1, moves=2)  # one skipped move: up again, and the count restarts
    updates(pacer, CALM_UPDATES - 1)
    assert pacer.target.sent == [FAST_WAIT_MS, 75, 112]


def test_updates_that_keep_up_without_room_hold_the_wait(pacer):
    updates(pacer, 2, moves=2)
    assert pacer.target.wait == 112
    updates(pacer, 2 * CALM_UPDATES, seconds=0.06)  # under 112 ms, but over 70 % of 75 ms: a step down would be late
    assert pacer.target.sent == [FAST_WAIT_MS, 75, 112]


def test_moves_left_unread_longer_than_the_interval_raise_the_wait(pacer):
    for _ in range(2):  # one move per update, none skipped: only their lag says the kernel is behind
        pacer.moved(lag=1.5 * pacer.target.wait / 1000)
        with pacer.update():
            pass
    assert pacer.target.sent == [FAST_WAIT_MS, 75, 112]
    updates(pacer, CALM_UPDATES)
    assert pacer.target.wait == 75, "fresh moves again: the wait comes back down"


def test_moves_read_within_the_interval_leave_the_wait_as_it_is(pacer):
    for _ in range(2 * CALM_UPDATES):
        pacer.moved(lag=0.5 * FAST_WAIT_MS / 1000)
        with pacer.update():
            pass
    assert pacer.target.sent == [FAST_WAIT_MS]


SENT = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)


def read(lag, seconds_after, extra, offset=-3600.0):
    """The lag of a message sent ``seconds_after`` SENT and read after a trip of ``extra`` s, the kernel's clock ``offset`` s off."""
    return lag.observe(SENT + timedelta(seconds=seconds_after), now=SENT.timestamp() + seconds_after + extra + offset)


def test_arrival_lag_is_the_time_in_queues_whatever_the_clocks_offset():
    for offset in (-3600.0, 0.0, 7.25):
        lag = ArrivalLag()
        lags = [read(lag, t, extra, offset) for t, extra in ((0.0, 0.02), (0.1, 0.02), (0.2, 0.9), (0.3, 0.6), (0.4, 0.03))]
        assert lags == pytest.approx([0.0, 0.0, 0.88, 0.58, 0.01], abs=1e-6)


def test_arrival_lag_forgets_a_fast_trip_outside_its_window():
    lag = ArrivalLag(window=10.0)
    read(lag, 0.0, 0.01)  # the fastest trip seen, then the clocks drift apart by 0.5 s
    assert read(lag, 5.0, 0.51) == pytest.approx(0.5)
    assert read(lag, 11.0, 0.51) == pytest.approx(0.0), "the first trip left the window: 0.51 s is the trip now"


def test_a_message_without_a_date_has_no_lag():
    assert ArrivalLag().observe(None) is None


def test_a_kernel_reads_the_send_time_of_the_message_it_handles():
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        client.execute_interactive("from fomm_nb.widgets.updates import message_sent_at", timeout=60)
        printed = []
        reply = client.execute_interactive("print(message_sent_at().isoformat())", timeout=60,
                                           output_hook=lambda msg: printed.append(msg["content"].get("text", "")))
        sent = reply["parent_header"]["date"]  # the request's header, as this client stamped it
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert datetime.fromisoformat("".join(printed).strip()) == sent


def test_a_served_class_starts_each_student_at_their_share_of_the_server(monkeypatch):
    share = move_interval_ms(24, cores=2)  # what fomm-nb serve --students 24 gives each kernel on two cores
    monkeypatch.setenv(MOVE_WAIT_VARIABLE, str(share))
    pacer = MovePacer(Throttle())
    assert pacer.target.sent == [share] and share > SLOW_WAIT_MS
    updates(pacer, 4 * CALM_UPDATES)
    assert pacer.target.sent == [share], "calm updates never ask for more than the share"
    updates(pacer, 2, moves=2)
    assert pacer.target.wait > share, "a kernel that falls behind still asks for fewer moves"


@pytest.mark.parametrize("value", ["", "soon", "10"])
def test_no_share_or_a_short_one_keeps_the_fast_default(monkeypatch, value):
    monkeypatch.setenv(MOVE_WAIT_VARIABLE, value)
    assert MovePacer(Throttle()).target.sent == [FAST_WAIT_MS]
