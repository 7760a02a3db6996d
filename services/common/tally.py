"""Request counts and latencies noted in process memory, handed to prometheus_client in batches.

In multiprocess mode every ``inc`` or ``observe`` of a prometheus_client metric writes the new
value into the worker's mmap file under a process-wide lock: about 4 us each, and a request
needs four of them (counter, histogram bucket and sum, in-flight gauge up and down) - a sixth
of a ~100 us ``/json``. So a request only appends a record to a deque, and ``flush()`` counts
the records in one batch and writes the totals, one ``inc`` per series, from the sampler every
0.5 s, before every ``/metrics`` answer and at exit. The price is that a scrape may miss up to
0.5 s of the other workers' requests; no request is ever lost or counted twice.

Cost is counted in CPU instructions (``scripts/bench_metrics_instructions.py``: callgrind does
not drift, where timings on this VM drift by 10%). A Python-level call costs thousands of the
~300,000 a FastAPI ``/json`` takes. So ``started`` and ``finished`` are C callables (a bound
``deque.append``), a record carries the route as the framework has it (a rule, or None) and is
labelled once per distinct value, and ``flush`` counts with ``Counter``, ``map`` and
``itemgetter``, which loop in C. The first two are worth a quarter of FastAPI's instrumentation:
11,700 instructions per ``/json`` with them, 15,600 with Python-level calls and a label per
request (in one harness that flushed every 250 requests).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter as Tally
from collections import deque
from collections.abc import Callable
from functools import partial
from itertools import compress, repeat, starmap
from operator import itemgetter

from prometheus_client import Counter, Gauge, Histogram

# route as the framework names it (a rule, a template, or None when nothing matched), method,
# status (FastAPI has an int, WSGI a string), seconds
Record = tuple["str | None", str, "str | int", float]
RawKey = tuple["str | None", str, "str | int"]
RawSeries = tuple["str | None", str]

_request_key = itemgetter(0, 1, 2)
_series_key = itemgetter(0, 1)
_seconds = itemgetter(3)


class RequestTally:
    """Counts for ``requests``, observations for ``duration`` and the ``in_flight`` figure.

    ``requests`` is labelled (*labels, route, method, status), ``duration`` (*labels, route,
    method); ``in_flight`` is an already bound gauge. ``route_label`` turns a record's route
    into its label. A method outside ``methods`` is counted as ``OTHER``: any token is a valid
    HTTP method, and each would be a new series.

    A request calls ``started()`` when it begins and ``finished(record)`` when it is answered.
    """

    def __init__(
        self,
        requests: Counter,
        duration: Histogram,
        in_flight: Gauge,
        labels: tuple[str, ...],
        methods: frozenset[str],
        route_label: Callable[[str | None], str],
    ) -> None:
        self._requests = requests
        self._duration = duration
        self._in_flight_gauge = in_flight
        self._labels = labels
        self._methods = methods
        self._route_label = route_label
        # The histogram's own bounds, +Inf last: bisect_left finds the first bound >= the
        # sample, the bucket prometheus_client's observe() picks (it stores them uncumulated).
        self._bounds = tuple(duration._upper_bounds)
        # deque.append and deque.popleft are atomic, so request threads never wait for a lock
        # and a flush takes exactly the records that were there when it counted them.
        self._started: deque[None] = deque()
        self._finished: deque[Record] = deque()
        self.started: Callable[[], None] = partial(self._started.append, None)
        self.finished: Callable[[Record], None] = self._finished.append
        self._in_flight = 0  # as of the last flush
        # One flush at a time, so that a flush that returns has written everything before it
        # (a scrape must not miss what the sampler took but has not written yet).
        self._flush_lock = threading.Lock()
        # Children by the records' own keys. Only keys with a known method are kept: a client
        # can send any number of method tokens, and each would stay here for good.
        self._counters: dict[RawKey, Counter] = {}
        self._histograms: dict[RawSeries, Histogram] = {}

    def flush(self) -> None:
        """Add everything noted since the last flush to the metrics."""
        with self._flush_lock:
            # Finished first: a request that ends between the two counts then has its start
            # counted and its end left for the next flush (in flight for 0.5 s more), never
            # the other way round (an in-flight figure below zero).
            finished, started = self._finished, self._started
            done = list(starmap(finished.popleft, repeat((), len(finished))))
            begun = len(started)
            deque(starmap(started.popleft, repeat((), begun)), maxlen=0)
            self._in_flight += begun - len(done)
            if done:
                self._add(done)
            self._in_flight_gauge.set(self._in_flight)

    def _add(self, done: list[Record]) -> None:
        seconds = list(map(_seconds, done))
        bucket_of = map(bisect_left, repeat(self._bounds), seconds)
        # One count per distinct (route, method, status, bucket): a few, however many records.
        tallies = Tally(zip(map(_request_key, done), bucket_of, strict=True))
        requests: dict[RawKey, int] = {}
        for (key, bucket), count in tallies.items():
            requests[key] = requests.get(key, 0) + count
            self._histogram(key[:2])._buckets[bucket].inc(count)
        for key, count in requests.items():
            self._counter(key).inc(count)
        series = {(route, method) for route, method, _ in requests}
        for one in series:
            # One pass in C per series: a flush sees as many series as routes were used.
            mine = (
                seconds
                if len(series) == 1
                else compress(seconds, map(one.__eq__, map(_series_key, done)))
            )
            self._histogram(one)._sum.inc(sum(mine))

    def _label_values(self, route: str | None, method: str) -> tuple[str, str]:
        return self._route_label(route), method if method in self._methods else "OTHER"

    def _counter(self, key: RawKey) -> Counter:
        counter = self._counters.get(key)
        if counter is None:
            route, method, status = key
            counter = self._requests.labels(
                *self._labels, *self._label_values(route, method), str(status)
            )
            if method in self._methods:
                self._counters[key] = counter
        return counter

    def _histogram(self, key: RawSeries) -> Histogram:
        histogram = self._histograms.get(key)
        if histogram is None:
            histogram = self._duration.labels(*self._labels, *self._label_values(*key))
            if key[1] in self._methods:
                self._histograms[key] = histogram
        return histogram
