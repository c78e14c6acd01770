using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Database;

/// <summary>A copy of tests/Fixtures/django-app (app 'orders', migrations 0001-0003, 0003 irreversible) in a temp folder.</summary>
public sealed class DjangoProject : IDisposable
{
    private static readonly Lazy<bool> Installed = new(() =>
        File.Exists("/usr/bin/python3") && ProcessRunner.RunAsync(new ProcessRequest("/usr/bin/python3", new[] { "-c", "import django" }), default).GetAwaiter().GetResult().ExitCode == 0);

    public DjangoProject(IReadOnlyDictionary<string, string>? environment = null)
    {
        Environment = environment;
        Folder = Git.Temp.Combine("django-app");
        Fixtures.CopyTo("django-app", Folder);
    }

    public static bool Available => Installed.Value;
    public GitFixture Git { get; } = new();
    public string Folder { get; }

    /// <summary>The settings' DJANGO_DB_* variables for a PostgreSQL database (null: SQLite).</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; }

    public string Manage(params string[] arguments)
    {
        var run = ProcessRunner.RunAsync(new ProcessRequest("/usr/bin/python3", new[] { "manage.py" }.Concat(arguments).ToList()) { WorkingDirectory = Folder, Environment = Environment }, default).GetAwaiter().GetResult();
        Assert.True(run.ExitCode == 0, run.CombinedOutput);
        return run.StandardOutput;
    }

    public string[] Applied() => Manage("showmigrations", "orders").Split('\n').Where(l => l.Contains("[X]")).Select(l => l.Trim()[4..]).ToArray();

    public RollbackRequest Request(string? target) => new() { Deployment = new DatabaseTarget { Tool = "Django", App = "orders", Path = Folder, ToolEnvironment = Environment }, Target = target };

    public void Dispose() => Git.Dispose();
}

public class DjangoMigrationTests
{
    [RequiresFact(Component.Django)]
    public async Task WhatIf_lists_the_migrations_in_order_and_changes_nothing()
    {
        using var project = new DjangoProject();
        project.Manage("migrate", "orders", "0002");
        var observer = new RecordingObserver(consent: false);

        var result = await RollbackEngine.InvokeAsync(project.Request("zero"), project.Git.Context(observer));

        Assert.Null(result);
        Assert.Contains(observer.Asked, a => a.Contains("0002_add_note, 0001_initial"));
        Assert.Equal(new[] { "0001_initial", "0002_add_note" }, project.Applied());
    }

    [RequiresFact(Component.Django)]
    public async Task A_target_is_one_literal_argument_and_unknown_names_list_the_known_migrations()
    {
        using var project = new DjangoProject();
        project.Manage("migrate", "orders", "0002");

        var unknown = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request("0002; rm -rf /"), project.Git.Context()));
        var ahead = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request("0003"), project.Git.Context()));
        var noTarget = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request(null), project.Git.Context()));
        var noApp = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request("0001").WithTarget<DatabaseTarget>(t => t with { App = "billing" }), project.Git.Context()));
        var noTool = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request("0001").WithTarget<DatabaseTarget>(t => t with { Tool = "Flyway" }), project.Git.Context()));

        Assert.Equal(ErrorIds.DatabaseMigrationUnknown, unknown.ErrorId);
        Assert.Contains("0001_initial, 0002_add_note, 0003_backfill", unknown.Message);
        Assert.Equal(ErrorIds.DatabaseMigrationUnknown, ahead.ErrorId);
        Assert.Equal(ErrorIds.DatabaseTargetMissing, noTarget.ErrorId);
        Assert.Equal(ErrorIds.DatabaseProjectNotFound, noApp.ErrorId);
        Assert.Equal(ErrorIds.DatabaseToolUnknown, noTool.ErrorId);
        Assert.Equal(new[] { "0001_initial", "0002_add_note" }, project.Applied());
        Assert.Empty(project.Git.State().Journal.GetAttempts());
    }

    [RequiresFact(Component.Django)]
    public async Task Default_target_is_the_migration_state_recorded_verified_good()
    {
        using var project = new DjangoProject();
        using var server = new LocalHttpServer((_, _) => (200, "ok"));
        project.Manage("migrate", "orders", "0001");
        var recorded = await RollbackEngine.TestHealthAsync(project.Request(null) with { Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri(server.Url()) } } } },
            null, recordVerified: true, signalOnFailure: false, project.Git.Context());
        project.Manage("migrate", "orders", "0002");

        var assessment = await RollbackEngine.AssessAsync(project.Request(null), project.Git.Context());
        var result = await RollbackEngine.InvokeAsync(project.Request(null), project.Git.Context());

        Assert.Equal("0001_initial", recorded.RecordedVerifiedVersion);
        Assert.Equal("0001_initial", assessment.LastGoodVersion);
        Assert.Equal("0002_add_note", assessment.Facts["applied_since_verified"]);
        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(new[] { "0001_initial" }, project.Applied());
    }

    [RequiresFact(Component.Django)]
    public async Task A_rerun_after_a_rollback_to_an_older_migration_stays_there_instead_of_migrating_forward()
    {
        using var project = new DjangoProject();
        using var server = new LocalHttpServer((_, _) => (200, "ok"));
        project.Manage("migrate", "orders", "0002");
        await RollbackEngine.TestHealthAsync(project.Request(null) with { Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri(server.Url()) } } } },
            null, recordVerified: true, signalOnFailure: false, project.Git.Context());
        var first = await RollbackEngine.InvokeAsync(project.Request("0001"), project.Git.Context());

        // Without -Target the newest verified state (0002) is ahead of the database now: the rule stays where the last rollback went.
        var assessment = await RollbackEngine.AssessAsync(project.Request(null), project.Git.Context());
        var rerun = await RollbackEngine.InvokeAsync(project.Request(null), project.Git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, first!.Outcome);
        Assert.Equal("0001_initial", assessment.LastGoodVersion);
        Assert.Equal("the version the last rollback went to", assessment.LastGoodSource);
        Assert.Equal(RollbackOutcome.Skipped, rerun!.Outcome);
        Assert.Equal(new[] { "0001_initial" }, project.Applied());
    }
}
