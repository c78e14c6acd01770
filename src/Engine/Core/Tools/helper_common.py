# DeploymentRollback's Python helpers, protocol 1: what the Django and Alembic helpers share. Fixed text shipped inside
# the module and put before each helper's own text (they are started as "<python> -c <both>"); it never runs code it
# is sent. Requests are one JSON object per line on stdin, answers one JSON object per line on the original stdout.
import contextlib
import importlib
import io
import json
import os
import sys
import traceback

PROTOCOL = 1

answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
# Anything else that prints (settings, apps, signal handlers, env.py) goes to stderr, never into the answers.
os.dup2(2, 1)


def finish():
    # Every request is answered and no connection is open: exit without the interpreter's teardown of every module
    # (about 0.15 s with Django or SQLAlchemy loaded), which the module would otherwise wait for.
    answers.flush()
    sys.stderr.flush()
    os._exit(0)


def answer(value):
    answers.write(json.dumps(value) + "\n")
    answers.flush()


def not_ready():
    # The module then runs the tool's own command per call instead.
    answer({"ready": False, "error": traceback.format_exc()})
    sys.exit(1)


def run_captured(run, cleanup=None, report=None):
    """One request run as its command would run: run(out, err) with stdout and stderr going to this request's own
    output; the exit code from SystemExit (0 when it returns); an exception given to report(e, err), which writes it as
    the command would and returns the exit code (None: its traceback and 1). cleanup runs afterwards, whatever happened."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run(out, err)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except Exception as e:
            code = report(e, err) if report is not None else None
            if code is None:
                err.write(traceback.format_exc())
                code = 1
        finally:
            if cleanup is not None:
                cleanup()
    return {"exit": code & 0xFF if code < 0 else code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def serve_tool(modules, run_command):
    """Imports the tool's modules as its installed command would, then serves requests (not ready when it cannot)."""
    # A command installed as a script does not put the current folder on sys.path ("-c" does): as the command, so a
    # module in the project folder never shadows one of the tool's.
    if sys.path and sys.path[0] in ("", "."):
        del sys.path[0]
    try:
        for name in modules:
            importlib.import_module(name)
    except Exception:
        not_ready()
    serve_requests(run_command)


def serve_requests(run_command, other=None):
    """Says it is ready, then answers each request: {"command": [...]} with run_command, any other with other (which
    returns None for a request it does not know), until the end of stdin."""
    answer({"ready": True, "protocol": PROTOCOL})
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        command = request.get("command")
        reply = None
        if isinstance(command, list) and command and all(isinstance(a, str) for a in command):
            reply = run_command(command)
        elif other is not None:
            reply = other(request)
        answer(reply if reply is not None else {"exit": 2, "stdout": "", "stderr": "unknown request\n"})
    finish()
