"""The API's throttles: DRF's, counting requests per window instead of keeping the time of each.

DRF's SimpleRateThrottle keeps a list of every allowed request's time in the last period and
stores the whole list back after each request: at a gateway's rate (tens of thousands of access
decisions a minute on one token) that list alone costs each request more than answering it. These
count per fixed window (a minute, for "600/minute"): one counter read and one increment. The
price is the edge of a window, where a client that used up one window may use the next at once;
the average stays within the rate, and a code guessed through the API still meets django-otp's
own growing delays."""

from rest_framework import throttling


class FixedWindow(throttling.SimpleRateThrottle):
    """At most num_requests allowed requests per window of `duration` seconds, counted in the cache."""

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends = (window + 1) * self.duration
        key = f"{self.key}:{window}"
        if self.cache.get(key, 0) >= self.num_requests:
            return False
        if not self.cache.add(key, 1, timeout=self.duration):
            try:
                self.cache.incr(key)
            except ValueError:  # it expired between add and incr: this is the window's first
                self.cache.set(key, 1, timeout=self.duration)
        return True

    def wait(self) -> float:
        return max(self.window_ends - self.now, 1.0)


class UserRateThrottle(throttling.UserRateThrottle, FixedWindow):
    """Per signed-in user (or client address): PIM_API_RATE."""


class ScopedRateThrottle(throttling.ScopedRateThrottle, FixedWindow):
    """Per user and the view's throttle_scope ("otp": code-carrying POSTs)."""
