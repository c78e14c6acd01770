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


def run_command(argv):
    from compose.cli import main as cli
    from compose.parallel import ParallelStreamWriter

    root = logging.getLogger()

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

    saved_argv = sys.argv
    return run_captured(run, cleanup)


serve_tool(["compose.cli.main", "compose.parallel"], run_command)
