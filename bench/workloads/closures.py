"""Closures and lambdas: closures called from Python, lambdas called from C
(map, filter, sorted keys), and functools.reduce."""
import functools
from _common import count


def make_adder(k):
    def add(x):
        return x + k
    return add


def make_counter():
    n = 0

    def step(by=1):
        nonlocal n
        n += by
        return n
    return step


def compose(f, g):
    return lambda x: f(g(x))


def main():
    adders = [make_adder(k) for k in range(10)]
    inc2 = compose(adders[1], adders[1])
    step = make_counter()
    data = list(range(2000))
    result = 0
    for r in range(count(500)):
        for add in adders:
            result += add(r)
        result += sum(map(lambda x: x * 2 + r, data))
        result += len(list(filter(lambda x: x % 3 == r % 3, data)))
        result += sorted(data, key=lambda x: -x if x % 2 else x)[r]
        result += functools.reduce(lambda a, b: a + inc2(b), data[:500], 0)
        for x in data[:600]:
            result += step()
    print("closures", result)


main()
