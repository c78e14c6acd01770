using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Database;

/// <summary>
/// The helper processes: a whole rollback (list, plan with its irreversibility check, checkpoint copy, downgrade,
/// after-state) starts the tool once; a project the helper cannot set up is still rolled back, one tool process per
/// command as before. The tool's starts are counted by a -ToolPath wrapper that logs each one.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class ToolHelperTests
{
    /// <summary>An executable shell script in folder that appends a line to log and then runs command with its arguments.</summary>
    private static (string Path, string Log) Wrapper(string folder, string command)
    {
        var log = Path.Combine(folder, "starts.log");
        var path = Path.Combine(folder, "counted-tool");
        File.WriteAllText(path, $"#!/bin/sh\necho start >> '{log}'\nexec {command} \"$@\"\n");
        File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute);
        return (path, log);
    }

    private static int Starts(string log) => File.Exists(log) ? File.ReadAllLines(log).Length : 0;

    [RequiresFact(Component.Django)]
    public async Task A_Django_rollback_starts_Python_once_and_still_plans_checks_and_copies()
    {
        using var project = new DjangoProject();
        project.Manage("migrate", "orders", "0002");
        var (python, log) = Wrapper(project.Git.Temp.Path, "/usr/bin/python3");
        var request = project.Request("0001").WithTarget<DatabaseTarget>(t => t with { ToolPath = python });

        var result = await RollbackEngine.InvokeAsync(request, project.Git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(1, Starts(log));
        Assert.Equal(new[] { "0001_initial" }, project.Applied());
        var checkpoint = Assert.Single(new CheckpointStore(project.Git.State()).List());
        Assert.Contains("database.sqlite3", checkpoint.Artefacts);
        Assert.Contains("[X] 0002_add_note", File.ReadAllText(Path.Combine(checkpoint.Folder, "migrations.txt")));
    }

    [RequiresFact(Component.Django)]
    public async Task A_Django_irreversible_migration_is_still_found_through_the_helper()
    {
        using var project = new DjangoProject();
        project.Manage("migrate", "orders", "0003");
        var (python, log) = Wrapper(project.Git.Temp.Path, "/usr/bin/python3");

        var result = await RollbackEngine.InvokeAsync(project.Request("0001").WithTarget<DatabaseTarget>(t => t with { ToolPath = python }), project.Git.Context());

        Assert.Equal(RollbackOutcome.Escalated, result!.Outcome);
        Assert.Equal(ErrorIds.DatabaseIrreversibleMigration, result.Steps.Single(s => s.Status == StepStatus.Failed).ErrorId);
        Assert.Equal(1, Starts(log));
        Assert.Equal(new[] { "0001_initial", "0002_add_note", "0003_backfill" }, project.Applied());
    }

    [RequiresFact(Component.Django)]
    public async Task A_manage_py_the_helper_cannot_serve_is_run_once_per_command_as_before()
    {
        using var project = new DjangoProject();
        project.Manage("migrate", "orders", "0002");
        // Runs the command line without execute_from_command_line: the helper has nothing to take over.
        var manage = Path.Combine(project.Folder, "manage.py");
        File.WriteAllText(manage, File.ReadAllText(manage)
            .Replace("from django.core.management import execute_from_command_line", "from django.core.management import ManagementUtility", StringComparison.Ordinal)
            .Replace("execute_from_command_line(sys.argv)", "ManagementUtility(sys.argv).execute()", StringComparison.Ordinal));
        var (python, log) = Wrapper(project.Git.Temp.Path, "/usr/bin/python3");

        var result = await RollbackEngine.InvokeAsync(project.Request("0001").WithTarget<DatabaseTarget>(t => t with { ToolPath = python }), project.Git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.True(Starts(log) > 1, $"{Starts(log)} start(s)");
        Assert.Equal(new[] { "0001_initial" }, project.Applied());
        Assert.Contains("database.sqlite3", Assert.Single(new CheckpointStore(project.Git.State()).List()).Artefacts);
    }

    [RequiresFact(Component.Alembic)]
    public async Task An_Alembic_rollback_runs_every_command_in_the_helper()
    {
        using var project = new AlembicProject();
        project.Alembic("upgrade", "0002");
        // An alembic command with a Python #! line that counts its own starts: the helper runs under that interpreter
        // instead, so a rollback through the helper never starts the command itself.
        var log = Path.Combine(project.Git.Temp.Path, "starts.log");
        var alembic = Path.Combine(project.Git.Temp.Path, "alembic");
        File.WriteAllText(alembic, $"#!/usr/bin/python3\nimport sys\nopen({System.Text.Json.JsonSerializer.Serialize(log)}, 'a').write('start\\n')\nfrom alembic.config import main\nsys.exit(main())\n");
        File.SetUnixFileMode(alembic, File.GetUnixFileMode(alembic) | UnixFileMode.UserExecute);

        var result = await RollbackEngine.InvokeAsync(project.Request("0001").WithTarget<DatabaseTarget>(t => t with { ToolPath = alembic }), project.Git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(0, Starts(log));
        Assert.Equal("0001", project.Current());
        Assert.Contains("database.sqlite3", Assert.Single(new CheckpointStore(project.Git.State()).List()).Artefacts);
    }

    [RequiresFact(Component.Rails)]
    public async Task A_Rails_rollback_boots_the_application_once()
    {
        using var project = new RailsProject();
        project.Rails("db:migrate", "VERSION=" + RailsProject.Second);
        var (rails, log) = Wrapper(project.Git.Temp.Path, $"/usr/bin/ruby '{Path.Combine(project.Folder, "bin", "rails")}'");

        var result = await RollbackEngine.InvokeAsync(project.Request(RailsProject.First).WithTarget<DatabaseTarget>(t => t with { ToolPath = rails }), project.Git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(1, Starts(log));
        Assert.Equal(new[] { RailsProject.First }, project.Applied());
        Assert.Contains("database.sqlite3", Assert.Single(new CheckpointStore(project.Git.State()).List()).Artefacts);
    }
}
