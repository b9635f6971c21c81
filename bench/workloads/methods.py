"""Method dispatch on a tree of objects: polymorphic visits of a tree of
Branch/Leaf instances (bound method calls, attribute loads, subclasses)."""
from _common import count


class Node:
    __slots__ = ("weight",)

    def __init__(self, weight):
        self.weight = weight

    def total(self):
        raise NotImplementedError

    def depth(self):
        raise NotImplementedError


class Leaf(Node):
    __slots__ = ()

    def total(self):
        return self.weight

    def depth(self):
        return 1

    def count_over(self, limit):
        return 1 if self.weight > limit else 0


class Branch(Node):
    __slots__ = ("left", "right")

    def __init__(self, weight, left, right):
        super().__init__(weight)
        self.left = left
        self.right = right

    def total(self):
        return self.weight + self.left.total() + self.right.total()

    def depth(self):
        return 1 + max(self.left.depth(), self.right.depth())

    def count_over(self, limit):
        own = 1 if self.weight > limit else 0
        return own + self.left.count_over(limit) + self.right.count_over(limit)


class Heavy(Branch):
    __slots__ = ()

    def total(self):
        return 2 * super().total()


def build(depth, seed):
    if depth == 0:
        return Leaf(seed % 97)
    left = build(depth - 1, seed * 3 + 1)
    right = build(depth - 1, seed * 5 + 2)
    cls = Heavy if seed % 7 == 0 else Branch
    return cls(seed % 89, left, right)


def main():
    tree = build(12, 1)
    result = 0
    for i in range(count(150)):
        result += tree.total() + tree.depth() + tree.count_over(i % 90)
    print("methods", result)


main()
