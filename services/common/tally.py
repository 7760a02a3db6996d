"""Request counts and latencies noted in process memory, handed to prometheus_client in batches.

In multiprocess mode every ``inc`` or ``observe`` of a prometheus_client metric writes the new
value into the worker's mmap file under a process-wide lock: about 4 us each, and a request
needs four of them (counter, histogram bucket and sum, in-flight gauge up and down) - a sixth
of a ~100 us ``/json``. Even adding into dicts on the request path cost 2-3 us there (measured
inside a running app, where the caches hold the framework rather than this code): half of the
whole instrumentation. So a request only appends a record to a deque, and ``flush()`` sorts
the records out in one loop and writes the totals, one ``inc`` per series, from the sampler
every 0.5 s, before every ``/metrics`` answer and at exit. The price is that a scrape may miss
up to 0.5 s of the other workers' requests; no request is ever lost or counted twice.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import deque

from prometheus_client import Counter, Gauge, Histogram

RequestKey = tuple[str, str, str]  # route, method, status
SeriesKey = tuple[str, str]  # route, method
Record = tuple[str, str, "str | int", float]  # route, method, status, seconds


class RequestTally:
    """Counts for ``requests``, observations for ``duration`` and the ``in_flight`` figure.

    ``requests`` is labelled (*labels, route, method, status), ``duration`` (*labels, route,
    method); ``in_flight`` is an already bound gauge. A method outside ``methods`` is counted
    as ``OTHER``: any token is a valid HTTP method, and each would be a new series.
    """

    def __init__(
        self,
        requests: Counter,
        duration: Histogram,
        in_flight: Gauge,
        labels: tuple[str, ...],
        methods: frozenset[str],
    ) -> None:
        self._requests = requests
        self._duration = duration
        self._in_flight_gauge = in_flight
        self._labels = labels
        self._methods = methods
        # The histogram's own bounds, +Inf last: bisect_left finds the first bound >= the
        # sample, the bucket prometheus_client's observe() picks (it stores them uncumulated).
        self._bounds = tuple(duration._upper_bounds)
        # deque.append and deque.popleft are atomic, so request threads never wait for a lock
        # and a flush takes exactly the records that were there when it counted them.
        self._started: deque[None] = deque()
        self._finished: deque[Record] = deque()
        self._in_flight = 0  # as of the last flush
        # One flush at a time, so that a flush that returns has written everything before it
        # (a scrape must not miss what the sampler took but has not written yet).
        self._flush_lock = threading.Lock()
        self._counters: dict[RequestKey, Counter] = {}
        self._histograms: dict[SeriesKey, Histogram] = {}

    def started(self) -> None:
        self._started.append(None)

    def finished(self, route: str, method: str, status: str | int, seconds: float) -> None:
        self._finished.append((route, method, status, seconds))

    def flush(self) -> None:
        """Add everything noted since the last flush to the metrics."""
        with self._flush_lock:
            # Finished first: a request that ends between the two counts then has its start
            # counted and its end left for the next flush (in flight for 0.5 s more), never
            # the other way round (an in-flight figure below zero).
            finished, started = self._finished, self._started
            done = [finished.popleft() for _ in range(len(finished))]
            for _ in range(len(started)):
                started.popleft()
                self._in_flight += 1
            self._in_flight -= len(done)
            counts: dict[RequestKey, int] = {}
            durations: dict[SeriesKey, list[float]] = {}  # a count per bucket, then the sum
            bounds, methods = self._bounds, self._methods
            for route, method, status, seconds in done:
                if method not in methods:
                    method = "OTHER"
                key = (route, method, str(status))
                counts[key] = counts.get(key, 0) + 1
                series = durations.get((route, method))
                if series is None:
                    series = durations[(route, method)] = [0.0] * (len(bounds) + 1)
                series[bisect_left(bounds, seconds)] += 1
                series[-1] += seconds
            for key, count in counts.items():
                self._counter(key).inc(count)
            for series_key, series in durations.items():
                histogram = self._histogram(series_key)
                for bucket, samples in enumerate(series[:-1]):
                    if samples:
                        histogram._buckets[bucket].inc(samples)
                histogram._sum.inc(series[-1])
            self._in_flight_gauge.set(self._in_flight)

    def _counter(self, key: RequestKey) -> Counter:
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self._requests.labels(*self._labels, *key)
        return counter

    def _histogram(self, key: SeriesKey) -> Histogram:
        histogram = self._histograms.get(key)
        if histogram is None:
            histogram = self._histograms[key] = self._duration.labels(*self._labels, *key)
        return histogram
