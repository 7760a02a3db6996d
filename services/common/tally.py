"""Request counts and latencies tallied in process memory, handed to prometheus_client in batches.

In multiprocess mode every ``inc`` or ``observe`` of a prometheus_client metric writes the new
value into the worker's mmap file under a process-wide lock: about 4 us each, and a request
needs four of them (counter, histogram bucket and sum, in-flight gauge up and down) - a sixth
of a ~100 us ``/json``. So a request only adds to the plain dicts below (well under a
microsecond), and ``flush()`` writes what accumulated, one ``inc`` per series, from the
sampler every 0.5 s, before every ``/metrics`` answer and at exit. The price is that a scrape
may miss up to 0.5 s of the other workers' requests; no request is ever lost or counted twice.
"""

from __future__ import annotations

import threading
from bisect import bisect_left

from prometheus_client import Counter, Gauge, Histogram

RequestKey = tuple[str, str, str]  # route, method, status
SeriesKey = tuple[str, str]  # route, method


class RequestTally:
    """Counts for ``requests``, observations for ``duration`` and the ``in_flight`` figure.

    ``requests`` is labelled (*labels, route, method, status), ``duration`` (*labels, route,
    method); ``in_flight`` is an already bound gauge.
    """

    def __init__(
        self, requests: Counter, duration: Histogram, in_flight: Gauge, labels: tuple[str, ...]
    ) -> None:
        self._requests = requests
        self._duration = duration
        self._in_flight_gauge = in_flight
        self._labels = labels
        # The histogram's own bounds, +Inf last: bisect_left finds the first bound >= the
        # sample, the bucket prometheus_client's observe() picks (it stores them uncumulated).
        self._bounds = tuple(duration._upper_bounds)
        # Held for a few dict operations per request; a flush holds it only to swap the dicts.
        self._lock = threading.Lock()
        self._counts: dict[RequestKey, int] = {}
        # Per series: one count per bucket, then the sum of the samples.
        self._durations: dict[SeriesKey, list[float]] = {}
        self._in_flight = 0
        # One flush at a time, so that a flush that returns has written everything before it
        # (a scrape must not miss what the sampler swapped out but has not written yet).
        self._flush_lock = threading.Lock()
        self._counters: dict[RequestKey, Counter] = {}
        self._histograms: dict[SeriesKey, Histogram] = {}

    def started(self) -> None:
        with self._lock:
            self._in_flight += 1

    def finished(self, route: str, method: str, status: str, seconds: float) -> None:
        bucket = bisect_left(self._bounds, seconds)
        with self._lock:
            self._in_flight -= 1
            key = (route, method, status)
            counts = self._counts
            counts[key] = counts.get(key, 0) + 1
            series = self._durations.get((route, method))
            if series is None:
                series = self._durations[(route, method)] = [0.0] * (len(self._bounds) + 1)
            series[bucket] += 1
            series[-1] += seconds

    def flush(self) -> None:
        """Add everything tallied since the last flush to the metrics."""
        with self._flush_lock:
            with self._lock:
                counts, self._counts = self._counts, {}
                durations, self._durations = self._durations, {}
                in_flight = self._in_flight
            for key, count in counts.items():
                self._counter(key).inc(count)
            for series_key, series in durations.items():
                histogram = self._histogram(series_key)
                for bucket, samples in enumerate(series[:-1]):
                    if samples:
                        histogram._buckets[bucket].inc(samples)
                histogram._sum.inc(series[-1])
            self._in_flight_gauge.set(in_flight)

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
