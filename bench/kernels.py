"""Small CPU-bound kernels that bench/emulated.py times under qemu-user,
where pyperformance (a venv and pip per interpreter, minutes per benchmark)
does not fit. Standard library only; deterministic. Prints one JSON object:
kernel -> seconds for one pass, a checksum of what the kernels computed so
that every interpreter is seen to do the same work, and the process's peak
resident memory (under qemu-user, the emulator's: the same for each build,
so the difference between builds is the interpreter's).

    python kernels.py [SCALE]
"""
import hashlib
import json
import pickle
import random
import re
import resource
import sys
import time

SCALE = int(sys.argv[1]) if len(sys.argv) > 1 else 1
rng = random.Random(20261204)
RECORDS = [{"id": i, "name": f"user-{i:05d}", "score": rng.random(), "tags": [f"t{rng.randrange(40)}"] * 3}
           for i in range(4000)]
TEXT = " ".join(f"word{rng.randrange(500)} {rng.choice(['alpha', 'beta', 'gamma'])}-{i}" for i in range(6000))


DOCUMENT = json.dumps(RECORDS)


def json_dumps():
    return len(json.dumps(RECORDS))


def json_loads():
    # pyperformance's json_loads measures this half alone; it allocates most
    return len(json.loads(DOCUMENT))


def pickle_round_trip():
    return sum(len(pickle.loads(pickle.dumps(RECORDS, protocol=5))) for _ in range(4))


def regex():
    return len(re.findall(r"\b(word\d+) (alpha|gamma)-(\d*7)\b", TEXT))


def floats():
    # an n-body style loop: attribute-free float arithmetic on locals
    x, y, vx, vy, total = 0.5, 0.25, 0.01, -0.02, 0.0
    for _ in range(60000):
        r2 = x * x + y * y + 0.01
        inv = 1.0 / (r2 * r2 ** 0.5)
        vx -= x * inv * 0.001
        vy -= y * inv * 0.001
        x += vx
        y += vy
        total += r2
    return round(total, 6)


class Node:
    __slots__ = ("value", "left", "right")

    def __init__(self, value, left=None, right=None):
        self.value, self.left, self.right = value, left, right

    def total(self):
        return self.value + (self.left.total() if self.left else 0) + (self.right.total() if self.right else 0)


def objects():
    # method calls and recursion over a tree of small objects
    def tree(depth):
        return Node(depth, tree(depth - 1), tree(depth - 1)) if depth else None
    return sum(tree(14).total() for _ in range(3))


def dicts_and_strings():
    counts = {}
    for token in TEXT.split() * 5:
        key = token.split("-")[0].upper()
        counts[key] = counts.get(key, 0) + 1
    return len(counts), sum(len(k) * v for k, v in sorted(counts.items()))


def generators():
    return sum(x * x for x in range(150000) if x % 3) % 1000003


def sorting():
    data = [(r["score"], r["name"]) for r in RECORDS] * 5
    return sorted(data)[len(data) // 2][1]


KERNELS = [json_dumps, json_loads, pickle_round_trip, regex, floats, objects, dicts_and_strings, generators, sorting]


def main():
    seconds, results = {}, []
    for kernel in KERNELS:
        start = time.perf_counter()
        for _ in range(SCALE):
            result = kernel()
        seconds[kernel.__name__] = time.perf_counter() - start
        results.append(result)
    checksum = hashlib.sha256(repr(results).encode()).hexdigest()[:16]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"seconds": seconds, "checksum": checksum, "peak_rss_kib": peak}))


if __name__ == "__main__":
    main()
