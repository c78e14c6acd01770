# DeploymentRollback's Alembic helper, protocol 1. Fixed text shipped inside the module; it never runs code it is sent.
#
# Started as "<python> -c <helper_common.py, then this script>" in the project folder, with the interpreter the alembic
# command itself runs under. Alembic is imported once; then it serves requests: one JSON object per line on stdin, one
# JSON answer per line on the original stdout.
#
#   {"command": ["-c", "/app/alembic.ini", "downgrade", "0002:0001", "--sql"]}  an alembic argument list, exactly as
#       on the command line (parsed by alembic's own CommandLine parser and run as its main() runs it, env.py and all)
#       -> {"exit": 0, "stdout": "...", "stderr": "..."}
#
# The first line it writes is {"ready": true, "protocol": 1}, or {"ready": false, "error": "..."} when alembic cannot be
# imported (the module then runs the alembic command per call instead). It ends at the end of stdin.
import gc


def run_command(argv):
    from alembic.config import CommandLine, Config

    def run(out, err):
        # CommandLine.main, with the output going where this request's output is kept (Config's stdout default is
        # bound when alembic is imported).
        command_line = CommandLine(prog="alembic")
        options = command_line.parser.parse_args(argv)
        if not hasattr(options, "cmd"):
            command_line.parser.error("too few arguments")
        config = Config(file_=options.config, ini_section=options.name, cmd_opts=options, stdout=out)
        command_line.run_cmd(config, options)

    # As when the alembic command exits: the engine env.py made, and any connection its pool holds, go now.
    return run_captured(run, gc.collect)


# As the alembic command, so env.py sees the same modules (alembic.ini's prepend_sys_path still applies).
serve_tool(["alembic.config"], run_command)
