#!/usr/bin/env python3
"""Runs a command on a new pseudo-terminal (its controlling terminal), as a person at a
terminal would, and types ANSWER the first time PROMPT appears in its output; with ANSWER
`-`, never. Prints everything the command wrote and exits with its exit code.

Usage: pty_answer.py PROMPT ANSWER COMMAND [ARG...]"""
import os, pty, select, sys, time

prompt, answer, argv = sys.argv[1].encode(), sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out, answered, deadline = b"", False, time.time() + 80
while True:
    if time.time() > deadline:
        # Say what was seen, for the test's failure message, and stop the command.
        sys.stderr.write("pty_answer: no end after 80 s; output so far:\n" + out.decode(errors="replace"))
        os.kill(pid, 9)
        break
    ready, _, _ = select.select([fd], [], [], 0.2)
    if ready:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
        if not answered and answer != "-" and prompt in out:
            os.write(fd, (answer + "\r").encode())
            answered = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
