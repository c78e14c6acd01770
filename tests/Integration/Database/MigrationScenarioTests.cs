using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Database;

/// <summary>
/// One fixture project of any migration tool on one database, migrated to its first N migrations: the three fixtures of
/// each tool are alike (create orders, add a note column, an irreversible backfill), so every tool and database must pass
/// the same scenarios.
/// </summary>
public sealed class MigrationScenario : IDisposable
{
    public const string Password = "scenario-pg-s3cret";

    private readonly IDisposable project;
    private readonly PostgresCluster? cluster;

    private MigrationScenario(string tool, string[] names, string firstTarget, IDisposable project, GitFixture git,
        Func<string[]> applied, Func<string?, RollbackRequest> request, PostgresCluster? cluster, string? pgDatabase)
    {
        Tool = tool;
        Names = names;
        FirstTarget = firstTarget;
        this.project = project;
        Git = git;
        Applied = applied;
        Request = request;
        this.cluster = cluster;
        PgDatabase = pgDatabase;
    }

    /// <summary>Every tool on SQLite and on PostgreSQL.</summary>
    public static TheoryData<string, string> ToolsAndDatabases()
    {
        var data = new TheoryData<string, string>();
        foreach (var tool in new[] { "Django", "Alembic", "Rails", "EfCore" })
        {
            data.Add(tool, "SQLite");
            data.Add(tool, "PostgreSQL");
        }

        return data;
    }

    public string Tool { get; }

    /// <summary>The three migrations as the tool names them, oldest first (the last one irreversible).</summary>
    public string[] Names { get; }

    /// <summary>The first migration as -Target takes it.</summary>
    public string FirstTarget { get; }

    public GitFixture Git { get; }
    public Func<string[]> Applied { get; }
    public Func<string?, RollbackRequest> Request { get; }
    public int Port => cluster!.Port;
    public bool OnPostgres => cluster is not null;

    /// <summary>The PostgreSQL database the project uses (null on SQLite).</summary>
    public string? PgDatabase { get; }

    public static MigrationScenario Open(string tool, string database, int applied)
    {
        var cluster = database == "PostgreSQL" ? new PostgresCluster() : null;
        try
        {
            return tool switch
            {
                "Django" => Django(cluster, applied),
                "Alembic" => Alembic(cluster, applied),
                "Rails" => Rails(cluster, applied),
                "EfCore" => EfCore(cluster, applied),
                _ => throw new ArgumentOutOfRangeException(nameof(tool)),
            };
        }
        catch
        {
            cluster?.Dispose();
            throw;
        }
    }

    private static MigrationScenario Django(PostgresCluster? cluster, int applied)
    {
        var names = new[] { "0001_initial", "0002_add_note", "0003_backfill" };
        var project = new DjangoProject(cluster is null ? null : new Dictionary<string, string>
        {
            ["DJANGO_DB_NAME"] = "postgres", ["DJANGO_DB_PORT"] = cluster.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["DJANGO_DB_PASSWORD"] = Password, ["DATABASE_URL"] = cluster.Url(Password),
        });
        project.Manage("migrate", "orders", names[applied - 1][..4]);
        return new("Django", names, "0001", project, project.Git, project.Applied, project.Request, cluster, cluster is null ? null : "postgres");
    }

    private static MigrationScenario Alembic(PostgresCluster? cluster, int applied)
    {
        var names = new[] { "0001", "0002", "0003" };
        var project = new AlembicProject(cluster?.Url(Password));
        project.Alembic("upgrade", names[applied - 1]);
        string[] Applied() => names[..(Array.IndexOf(names, project.Current()) + 1)];
        return new("Alembic", names, "0001", project, project.Git, Applied, project.Request, cluster, cluster is null ? null : "postgres");
    }

    private static MigrationScenario Rails(PostgresCluster? cluster, int applied)
    {
        var names = new[] { RailsProject.First, RailsProject.Second, RailsProject.Third };
        if (cluster is not null)
        {
            Psql.CreateDatabase(cluster.Port, "shop");
        }

        var project = new RailsProject(cluster is null ? null : $"postgresql://postgres:{Password}@127.0.0.1:{cluster.Port}/shop");
        project.Rails("db:migrate", "VERSION=" + names[applied - 1]);
        return new("Rails", names, RailsProject.First, project, project.Git, project.Applied, project.Request, cluster, cluster is null ? null : "shop");
    }

    private static MigrationScenario EfCore(PostgresCluster? cluster, int applied)
    {
        var names = new[] { EfCoreProject.InitialCreate, EfCoreProject.AddNote, EfCoreProject.Backfill };
        if (cluster is not null)
        {
            Psql.CreateDatabase(cluster.Port, "shop");
        }

        var project = new EfCoreProject(names[applied - 1], cluster is null ? null : EfCoreProject.Npgsql(cluster, "shop", Password));
        string[] Applied() => project.MigrationsList().Where(l => !l.EndsWith("(Pending)", StringComparison.Ordinal)).ToArray();
        return new("EfCore", names, "InitialCreate", project, project.Git, Applied, project.Request, cluster, cluster is null ? null : "shop");
    }

    public void Dispose()
    {
        project.Dispose();
        cluster?.Dispose();
    }
}

/// <summary>The scenarios every migration tool passes on every database, one theory each over tools and databases.</summary>
public class MigrationScenarioTests
{
    [RequiresTheory(Component.Django, Component.Alembic, Component.Rails, Component.EfCore, Component.Postgres, Component.Psycopg2, Component.RailsPostgres)]
    [MemberData(nameof(MigrationScenario.ToolsAndDatabases), MemberType = typeof(MigrationScenario))]
    public async Task Rolls_back_the_newest_migration_with_the_tools_own_plan_and_keeps_a_copy_of_the_database(string tool, string database)
    {
        using var scenario = MigrationScenario.Open(tool, database, applied: 2);
        var observer = new RecordingObserver();

        var assessment = await RollbackEngine.AssessAsync(scenario.Request(scenario.FirstTarget), scenario.Git.Context());
        var result = await RollbackEngine.InvokeAsync(scenario.Request(scenario.FirstTarget), scenario.Git.Context(observer));

        Assert.Equal(scenario.Names[1], assessment.CurrentVersion);
        Assert.Equal($"{scenario.Names[0]}, {scenario.Names[1]}", assessment.Facts["applied"]);
        Assert.Equal(scenario.Names[2], assessment.Facts["pending"]);
        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, result.Message + string.Join('\n', result.Steps.Select(s => s.Message + s.Output)));
        Assert.Equal(scenario.Names[1], result.FromVersion);
        Assert.Equal(new[] { scenario.Names[0] }, scenario.Applied());
        Assert.Contains(observer.Asked, a => a.Contains($"Unapply with {tool}, in order: {scenario.Names[1]}"));
        if (scenario.OnPostgres)
        {
            // A pg_dump restorable into a new database, and the password in no message or state file.
            Psql.AssertDumpedCheckpoint(scenario.Git, scenario.Port, scenario.PgDatabase!, scenario.Names[1], MigrationScenario.Password, observer);
        }
        else
        {
            var checkpoint = Assert.Single(new CheckpointStore(scenario.Git.State()).List());
            Assert.Contains("database.sqlite3", checkpoint.Artefacts);
            Assert.Contains("[X] " + scenario.Names[1], File.ReadAllText(Path.Combine(checkpoint.Folder, "migrations.txt")));
        }
    }

    [RequiresTheory(Component.Django, Component.Alembic, Component.Rails, Component.EfCore, Component.Postgres, Component.Psycopg2, Component.RailsPostgres)]
    [MemberData(nameof(MigrationScenario.ToolsAndDatabases), MemberType = typeof(MigrationScenario))]
    public async Task An_irreversible_migration_is_found_in_the_plan_and_escalated_before_anything_runs(string tool, string database)
    {
        using var scenario = MigrationScenario.Open(tool, database, applied: 3);

        var result = await RollbackEngine.InvokeAsync(scenario.Request(scenario.FirstTarget), scenario.Git.Context());

        Assert.Equal(RollbackOutcome.Escalated, result!.Outcome);
        var failed = result.Steps.Single(s => s.Status == StepStatus.Failed);
        Assert.Equal(ErrorIds.DatabaseIrreversibleMigration, failed.ErrorId);
        Assert.Contains(scenario.Names[2], failed.Message);
        Assert.Contains(SignalNames.ManualInterventionRequired, result.Signals);
        Assert.Single(new SignalStore(scenario.Git.State()).Read(new[] { SignalNames.ManualInterventionRequired }));
        Assert.Equal(scenario.Names, scenario.Applied());
    }
}
