# DeploymentRollback's Rails helper, protocol 1. Fixed text shipped inside the module; it never runs code it is sent.
#
# Run by "bin/rails runner <this script>" (or the rails command the module would run tasks with), so the application
# boots once as for any runner; then it loads the application's Rakefile and serves requests: one JSON object per line
# on stdin, one JSON answer per line on the original stdout.
#
#   {"command": ["db:migrate", "VERSION=20240101000000"]}  a rails task's argument list, exactly as on the command line
#       (NAME=value sets that environment variable for the task, as rake does; the rest are task names, each run as
#       "bin/rails <task>" runs it) -> {"exit": 0, "stdout": "...", "stderr": "..."}
#   {"database": true}  -> {"exit": 0, "adapter": "...", "database": "..."} (the configuration only; no connection)
#
# The first line it writes is {"ready": true, "protocol": 1}, or nothing when the application cannot boot this way (the
# module then runs one rails process per task instead). It ends at the end of stdin.
require "json"
require "stringio"
require "rake"

PROTOCOL = 1

answers = STDOUT.dup
answers.sync = true
# Anything else that prints goes to stderr, never into the answers.
STDOUT.reopen(STDERR)

Rake.application.init("rails", [])
Rake.application.load_rakefile

run_command = lambda do |argv|
  out = StringIO.new
  err = StringIO.new
  code = 0
  saved_env = {}
  stdout, stderr = $stdout, $stderr
  $stdout, $stderr = out, err
  begin
    tasks = []
    argv.each do |argument|
      if (match = /\A(\w+)=(.*)\z/m.match(argument))
        saved_env[match[1]] = ENV[match[1]]
        ENV[match[1]] = match[2]
      else
        tasks << argument
      end
    end
    tasks.each do |name|
      task = Rake::Task[name]
      # A task runs once per rake process; each request is one "bin/rails <task>", so its task and what it runs after
      # (load_config, environment, _dump, ...) may run again.
      Rake::Task.tasks.each(&:reenable)
      task.invoke
    end
  rescue SystemExit => e
    code = e.status
  rescue Exception => e # rubocop:disable Lint/RescueException -- reported as rake reports it, never raised further
    err.puts "rails aborted!"
    err.puts "#{e.class}: #{e.message}"
    err.puts e.backtrace.first(20).join("\n") if e.backtrace
    code = 1
  ensure
    $stdout, $stderr = stdout, stderr
    saved_env.each { |key, value| ENV[key] = value }
    # As when the rails process exits: no connection is held between requests.
    ActiveRecord::Base.connection_handler.clear_all_connections! if defined?(ActiveRecord::Base)
  end
  { "exit" => code, "stdout" => out.string, "stderr" => err.string }
end

answers.puts(JSON.generate({ "ready" => true, "protocol" => PROTOCOL }))
STDIN.each_line do |line|
  next if line.strip.empty?

  request = JSON.parse(line)
  answer =
    if request["command"].is_a?(Array) && !request["command"].empty? && request["command"].all? { |a| a.is_a?(String) }
      run_command.call(request["command"])
    elsif request["database"] == true
      begin
        config = ActiveRecord::Base.connection_db_config
        { "exit" => 0, "adapter" => config.adapter.to_s, "database" => config.database.to_s }
      rescue StandardError => e
        { "exit" => 1, "stdout" => "", "stderr" => "#{e.class}: #{e.message}\n" }
      end
    else
      { "exit" => 2, "stdout" => "", "stderr" => "unknown request\n" }
    end
  answers.puts(JSON.generate(answer))
end
answers.flush
exit!(0)
