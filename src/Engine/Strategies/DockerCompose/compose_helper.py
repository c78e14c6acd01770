# DeploymentRollback's Compose v1 helper, protocol 1. Fixed text shipped inside the module; it never runs code it is sent.
#
# Started as "<python> -c <helper_common.py, then this script>" in the project folder, with the interpreter the
# docker-compose command itself runs under. Compose is imported once; then it serves requests: one JSON object per line
# on stdin, one JSON answer per line on the original stdout.
#
#   {"command": ["-f", "docker-compose.previous.yml", "-p", "shop", "config"]}  a docker-compose argument list, exactly
#       as on the command line (run by Compose's own main(), which parses it and reports errors as the command does)
#       -> {"exit": 0, "stdout": "...", "stderr": "..."}
#
# The first line it writes is {"ready": true, "protocol": 1}, or {"ready": false, "error": "..."} when Compose cannot be
# imported (the module then runs the docker-compose command per call instead). It ends at the end of stdin.
import logging
import sysconfig


def prefer_standard_distutils():
    # Compose and docker-py import distutils only for find_executable and its version classes. When setuptools is
    # installed, its import hook (put in place at Python's start-up) answers "import distutils" with setuptools' own copy,
    # importing setuptools and pkg_resources on the way: about half of this helper's start here (0.25-0.45 s). Where the
    # standard library still has distutils (Python before 3.12, and Debian's python3-distutils), the helper takes that:
    # the same functions, without setuptools. Elsewhere the hook stays.
    if os.path.isfile(os.path.join(sysconfig.get_paths()["stdlib"], "distutils", "__init__.py")):
        sys.meta_path[:] = [finder for finder in sys.meta_path if type(finder).__module__ != "_distutils_hack"]


def run_command(argv):
    from compose.cli import main as cli
    from compose.parallel import ParallelStreamWriter

    root = logging.getLogger()
    saved_argv = sys.argv

    def run(out, err):
        sys.argv = ["docker-compose"] + argv
        # main() binds its log handler and its progress writer to the sys.stderr of the first call; each request gets
        # its own (the handler is removed and the writer forgotten afterwards).
        ParallelStreamWriter.instance = None
        cli.main()

    def cleanup():
        sys.argv = saved_argv
        for handler in list(root.handlers):
            root.removeHandler(handler)
        ParallelStreamWriter.instance = None

    return run_captured(run, cleanup)


prefer_standard_distutils()
serve_tool(["compose.cli.main", "compose.parallel"], run_command)
