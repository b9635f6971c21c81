"""Sorting with few Python calls: list.sort of ints, strings and tuples
without a key function (all the work is in C)."""
from _common import count


def main():
    x = 12345
    ints = []
    for _ in range(200_000):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        ints.append(x)
    strs = [str(v) for v in ints[:60_000]]
    tups = [(v % 100, v) for v in ints[:60_000]]
    result = 0
    for r in range(count(5)):
        a = ints[r:] + ints[:r]
        a.sort()
        b = sorted(strs, reverse=r & 1)
        c = sorted(tups)
        result += a[1000] + len(b[7]) + c[-1][1]
    print("sort", result)


main()
