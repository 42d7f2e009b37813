"""A bounded counter that merges: counts per key for at most ``cap`` keys, the rest under one
"other" key.

For tables keyed by what the log names (syslog tags, clients, domains), which an outsider can
make as many as he likes: memory stays at ``cap`` keys, however many distinct keys come.

While there are at most ``cap`` distinct keys, it is an exact Counter, and a counter merged from
the counters of pieces of a log (``merge``) equals the counter of one pass. When a new key would
make ``cap + 1``, the smaller half of the keys already there is dropped first (ties: the keys seen
later go first) and their counts are added to the "other" key, then the new key comes in: the
keys that recur stay, those seen once or twice go, so a flood of one-off keys cannot push out a
frequent one (a key stays while fewer than ``cap / 2`` keys have more lines than it since it was
admitted). Past the cap, a kept key's count counts its lines since it was last admitted (a lower
bound), the total of all counts stays exact, and which keys are kept depends on where a log was
cut. ``dropped`` counts the lines moved to "other".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable

OTHER = "(other)"


class TopCounter(Counter):
    """``other``: the key the counts of dropped keys go to, or a function of the dropped key
    giving it (to keep part of the key, such as whether a line was recognized)."""

    def __init__(self, cap: int, other: Hashable | Callable = OTHER):
        super().__init__()
        self.cap = cap
        self.other = other
        self.dropped = 0

    def __reduce__(self):  # Counter's own reduce would pass the items as ``cap``
        return (type(self), (self.cap, self.other), self.__dict__, None, iter(self.items()))

    def add(self, key, n: int = 1) -> None:
        if key in self:
            self[key] += n
            return
        if len(self) >= self.cap:  # before the new key comes in: a new key is always admitted
            self.prune()
        self[key] = n

    def merge(self, later: TopCounter) -> None:
        """Add the counts of a counter of the lines that follow."""
        for key, n in later.items():
            self[key] += n
        self.dropped += later.dropped
        if len(self) > self.cap:
            self.prune()

    def _other(self, key):
        return self.other(key) if callable(self.other) else self.other

    def is_other(self, key) -> bool:
        return self._other(key) == key

    def prune(self) -> None:
        """Keep the larger half of the keys (the "other" keys always), the rest to "other"."""
        keys = [k for k in self if not self.is_other(k)]
        keep = set(sorted(keys, key=self._rank(keys))[:self.cap // 2])
        for k in keys:
            if k not in keep:
                self._drop(k)

    def _rank(self, keys: list) -> Callable:
        """The sort key of ``prune``: larger counts first, ties in the order the keys came."""
        order = {k: i for i, k in enumerate(keys)}
        return lambda k: (-self[k], order[k])

    def _drop(self, key) -> None:
        n = self.pop(key)
        self[self._other(key)] += n
        self.dropped += n
