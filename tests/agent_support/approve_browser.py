#!/usr/bin/env python3
"""A $BROWSER for tests: "opens" the challenge URL given by approving it through the reference
server's JSON validator API (the view's nonce, then the decision), as a person would on the
page. Usage: approve_browser.py CHALLENGE_URL"""
import json, sys, urllib.request

url = sys.argv[1].replace("/challenge_validator/", "/api/v2/challenge_validator/")
view = json.load(urllib.request.urlopen(url, timeout=10))
req = urllib.request.Request(url, data=json.dumps({"nonce": view["nonce"]}).encode(),
                             headers={"content-type": "application/json"})
urllib.request.urlopen(req, timeout=10).read()
