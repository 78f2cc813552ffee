"""The fixed workload whose peak RSS BENCHMARKS.md reports: the kinds of
allocation a web or data service makes (many small objects, strings, dicts,
a JSON round trip, an in-memory SQLite table, a sort), deterministic and
about a second long. It prints a checksum so that every interpreter is seen
to do the same work."""
import hashlib
import json
import random
import sqlite3

rng = random.Random(20261122)
records = [{"id": i, "name": f"user-{i:06d}", "score": rng.random(), "tags": [f"t{rng.randrange(50)}"] * 3}
           for i in range(200_000)]
text = json.dumps(records)
decoded = json.loads(text)
decoded.sort(key=lambda r: (r["score"], r["name"]))
db = sqlite3.connect(":memory:")
db.execute("create table users (id integer primary key, name text, score real)")
db.executemany("insert into users values (?, ?, ?)", ((r["id"], r["name"], r["score"]) for r in decoded))
top = db.execute("select name from users order by score desc limit 10").fetchall()
words = {}
for record in decoded:
    words.setdefault(record["tags"][0], []).append(record["name"])
digest = hashlib.sha256(text.encode() + repr(top).encode() + repr(sorted(words)).encode()).hexdigest()
print(digest[:16], len(decoded), len(words))
