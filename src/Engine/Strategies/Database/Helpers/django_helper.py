# DeploymentRollback's Django helper, protocol 1. Fixed text shipped inside the module; it never runs code it is sent.
#
# Started as "<python> -c <helper_common.py, then this script>" in the project folder. It runs the project's manage.py
# as "python manage.py" would, so the project sets itself up as it does for any command (DJANGO_SETTINGS_MODULE,
# sys.path, ...), but where manage.py hands its command line to execute_from_command_line, this script sets Django up
# once and then serves requests instead: one JSON object per line on stdin, one JSON answer per line on the original
# stdout.
#
#   {"command": ["migrate", "orders", "0001", "--plan"]}  a management command's argument list, exactly as on the
#       command line (call_command parses it with the command's own parser, and runs the system checks as the
#       command line does) -> {"exit": 0, "stdout": "...", "stderr": "..."}
#   {"database": "default"}  -> {"exit": 0, "engine": "...", "name": "..."}
#
# The first line it writes is {"ready": true, "protocol": 1} once Django is set up, or {"ready": false, "error": "..."}
# when the project cannot be set up this way (the module then runs manage.py per command instead). It ends at the end
# of stdin.
import runpy


def run_command(argv):
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.db import connections

    def report(e, err):
        if not isinstance(e, CommandError):
            return None
        # As manage.py reports it (BaseCommand.run_from_argv).
        err.write("%s: %s\n" % (e.__class__.__name__, e))
        return getattr(e, "returncode", 1) or 1

    # As when manage.py exits: no connection is held between requests.
    return run_captured(lambda out, err: call_command(*argv, stdout=out, stderr=err, skip_checks=False), connections.close_all, report)


def database(alias):
    from django.conf import settings

    settings_of = settings.DATABASES[alias]
    return {"exit": 0, "engine": str(settings_of.get("ENGINE", "")), "name": str(settings_of.get("NAME", ""))}


def other_request(request):
    if not isinstance(request.get("database"), str):
        return None
    try:
        return database(request["database"])
    except Exception:
        return {"exit": 1, "stdout": "", "stderr": traceback.format_exc()}


def serve(argv=None):
    import django

    try:
        django.setup()
    except Exception:
        not_ready()
    serve_requests(run_command, other_request)


def main():
    if sys.path and sys.path[0] in ("", "."):
        # "python manage.py" puts manage.py's folder first on sys.path; "-c" puts the current folder, which is the same.
        sys.path[0] = os.getcwd()
    try:
        import django.core.management as management
    except Exception:
        not_ready()
    management.execute_from_command_line = serve
    sys.argv = ["manage.py"]
    try:
        runpy.run_path("manage.py", run_name="__main__")
    except SystemExit:
        raise
    except BaseException:
        not_ready()
    answer({"ready": False, "error": "manage.py did not call django.core.management.execute_from_command_line"})
    sys.exit(1)


main()
