"""Generator consumption: pipelines of generators consumed by for loops,
sum() and list(), plus a generator expression and yield from."""
from _common import count


def numbers(n):
    for i in range(n):
        yield i


def squares(seq):
    for x in seq:
        yield x * x


def evens(seq):
    for x in seq:
        if not x & 1:
            yield x


def chained(n):
    yield from numbers(n)
    yield from numbers(n // 2)


def main():
    result = 0
    for _ in range(count(80)):
        result += sum(evens(squares(numbers(20000))))
        for x in chained(20000):
            result ^= x
        result += len(list(squares(range(10000))))
        result += sum(x + 1 for x in numbers(10000))
    print("generators", result)


main()
