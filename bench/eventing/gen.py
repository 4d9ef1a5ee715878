#!/usr/bin/env python3
"""Writes N staging documents as "KEY<TAB>JSON" lines: home-delivery Debezium
envelopes (the fixture's shape, with schema) and loyalty rows, alternating, for
N/2 customers who each appear in both systems (loyalty rows in shuffled order).
   gen.py N FIXTURE.json > staging.tsv"""
import json, random, sys

n = int(sys.argv[1])
env = json.load(open(sys.argv[2]))
rnd = random.Random(360)
first = ["Matthew", "Gia", "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James"]
last = ["Groves", "Kutch", "Smith", "Jones", "Brown", "Garcia", "Miller", "Davis", "Lopez", "Wilson"]
customers = max(1, n // 2)
out = sys.stdout
# every customer has one home-delivery envelope and (mostly) one loyalty row,
# so no staging key repeats (a repeated key would be deduplicated by the feed)
order = list(range(customers))
rnd.shuffle(order)
for i in range(n):
    c = i // 2 if i % 2 == 0 else order[(i // 2) % customers]
    fn, ln = first[c % 10], last[(c // 10) % 10]
    email = "%s.%s.%d@example.com" % (fn.lower(), ln.lower(), c)
    if i % 2 == 0:
        after = dict(env["payload"]["after"])
        after.update({"id": 1000 + c, "name": "%s %s" % (fn, ln), "email": email,
                      "password": "pw%06d" % rnd.randrange(10**6),
                      "address_line_1": "%d Main Street" % (c % 997),
                      "phonenumber": "555-%04d" % (c % 10000)})
        doc = dict(env)
        doc["payload"] = dict(env["payload"], after=after)
        key = json.dumps({"id": 1000 + c}, separators=(",", ":"))
    else:
        doc = {"id": str(c), "password": "lp%06d" % rnd.randrange(10**6), "firstName": fn,
               "lastName": ln, "email": email, "points": str(rnd.randrange(1000))}
        key = "key::%d" % (i + 1)
    out.write(key + "\t" + json.dumps(doc, separators=(",", ":")) + "\n")
