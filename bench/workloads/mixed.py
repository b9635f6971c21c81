"""A realistic mixed program: records as dataclasses, JSON round trips,
regular-expression parsing of log lines, sorting with keys, and a little
aggregation, the way a small service or a batch job would."""
import dataclasses
import json
import re
from _common import count

LINE = re.compile(r"(?P<ip>\d+\.\d+\.\d+\.\d+) - (?P<user>\w+) "
                  r"\[(?P<day>\d\d)/(?P<mon>\w+)/(?P<year>\d{4})\] "
                  r'"(?P<method>GET|POST|PUT) (?P<path>/[\w/.-]*)" '
                  r"(?P<status>\d{3}) (?P<size>\d+)")

USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]
PATHS = ["/", "/index.html", "/api/v1/items", "/api/v1/users",
         "/static/app.js", "/login", "/logout"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]


@dataclasses.dataclass(order=True)
class Hit:
    status: int
    path: str
    user: str
    size: int
    ip: str = "0.0.0.0"
    tags: list = dataclasses.field(default_factory=list)

    def key(self):
        return (self.user, -self.size)


def make_lines(n, seed):
    lines = []
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        lines.append('10.%d.%d.%d - %s [%02d/%s/2023] "%s %s" %d %d' % (
            x % 256, (x >> 8) % 256, i % 256, USERS[x % len(USERS)],
            1 + x % 28, MONTHS[x % len(MONTHS)], ("GET", "POST", "PUT")[x % 3],
            PATHS[(x >> 4) % len(PATHS)], (200, 404, 500, 302)[x % 4],
            x % 50000))
    return lines


def parse(lines):
    hits = []
    for line in lines:
        m = LINE.match(line)
        if m is None:
            continue
        hits.append(Hit(int(m["status"]), m["path"], m["user"],
                        int(m["size"]), m["ip"], [m["method"], m["mon"]]))
    return hits


def summarize(hits):
    by_user = {}
    for h in hits:
        entry = by_user.setdefault(h.user, {"hits": 0, "bytes": 0, "errors": 0})
        entry["hits"] += 1
        entry["bytes"] += h.size
        entry["errors"] += h.status >= 500
    return by_user


def main():
    result = 0
    for r in range(count(9)):
        hits = parse(make_lines(2500, r + 1))
        hits.sort()
        hits.sort(key=Hit.key)
        top = sorted(hits, key=lambda h: (h.size, h.path))[-20:]
        text = json.dumps([dataclasses.asdict(h) for h in hits[:600]])
        back = [Hit(**d) for d in json.loads(text)]
        summary = json.loads(json.dumps(summarize(back + top), sort_keys=True))
        result += sum(v["bytes"] for v in summary.values()) + len(text)
        result += sum(1 for h in back if h == hits[back.index(h)])
    print("mixed", result)


main()
