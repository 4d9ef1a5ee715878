#!/usr/bin/env python3
"""Copies functions/customer360.js into the appcode of functions/customer360.json
(the exported definition ships the same code; tests/runtime/test_customer360
checks they match). Run after editing the .js."""
import json, os
here = os.path.dirname(os.path.abspath(__file__))
path = os.path.join(here, "customer360.json")
d = json.load(open(path))
d[0]["appcode"] = open(os.path.join(here, "customer360.js")).read()
open(path, "w").write(json.dumps(d, indent=2) + "\n")
