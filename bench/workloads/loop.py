"""A tight loop with few calls: arithmetic and list indexing in a single
frame (the cost of support here should be nil)."""
from _common import count


def main():
    n = count(3_000_000)
    table = [i * 7 % 13 for i in range(64)]
    acc = 0
    i = 0
    while i < n:
        acc = (acc + table[i & 63] * i) % 1000003
        if acc & 1:
            acc ^= i
        i += 1
    print("loop", acc)


main()
