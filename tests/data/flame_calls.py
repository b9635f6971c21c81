"""Workload for tests/test_flamegraph.py: Python calls that go through the
interpreter's C call plumbing (map, sorted(key=), __call__, bound methods,
generators), so that --fold-internal has something to fold."""


class Scale:
    def __init__(self, k):
        self.k = k

    def __call__(self, x):          # reached through slot_tp_call
        return x * self.k

    def apply(self, xs):            # bound method
        return [self(x) for x in xs]


def key(x):
    return -x


def gen(n):
    for i in range(n):
        yield i * i


def work(rounds):
    s = Scale(3)
    total = 0
    for _ in range(rounds):
        xs = list(map(s, range(2000)))
        xs = sorted(xs, key=key)
        total += sum(s.apply(xs[:500]))
        total += sum(gen(2000))
    return total


if __name__ == "__main__":
    work(300)
