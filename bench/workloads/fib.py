"""Call-heavy recursion: naive Fibonacci, nothing but Python calls."""
from _common import count


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def main():
    total = 0
    for _ in range(count(40)):
        total += fib(25)
    print("fib", total)


main()
