"""Async coroutines: asyncio.run of a program doing many awaits, most of
them of coroutines that complete without suspending, some of them
suspending (asyncio.sleep(0)) and a gather of tasks."""
import asyncio
from _common import count


async def leaf(x):
    return x + 1


async def middle(x):
    a = await leaf(x)
    b = await leaf(a)
    return a + b


async def worker(n, yield_every):
    total = 0
    for i in range(n):
        total += await middle(i)
        if i % yield_every == 0:
            await asyncio.sleep(0)
    return total


async def amain(rounds):
    total = 0
    for r in range(rounds):
        results = await asyncio.gather(*(worker(2000, 50 + k) for k in range(8)))
        total += sum(results) + r
    return total


def main():
    print("coroutines", asyncio.run(amain(count(16))))


main()
