using System.Diagnostics;
using DeploymentRollback.Engine;
using DeploymentRollback.Engine.Database;
using Microsoft.Data.Sqlite;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Database;

/// <summary>psql, pg_dump and pg_restore against a database of a <see cref="PostgresCluster"/> (user postgres, trust authentication).</summary>
public static class Psql
{
    /// <summary>Why the PostgreSQL client programs cannot be used, or null when they can.</summary>
    public static string? Missing => new[] { "psql", "pg_dump", "pg_restore" }.FirstOrDefault(p => Find(p) is null) is { } absent
        ? $"{absent} is not installed (apt-get install postgresql-client)" : null;

    public static void CreateDatabase(int port, string name) => Query(port, "postgres", $"CREATE DATABASE \"{name}\"");

    /// <summary>The rows psql prints for a query, one string a row (the first column).</summary>
    public static string[] Query(int port, string database, string sql) =>
        Run("psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "postgres", "-d", database, "-c", sql)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static string[] Columns(int port, string database, string table) =>
        Query(port, database, $"SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{table}' ORDER BY ordinal_position");

    /// <summary>Restores a pg_dump (custom format) into a new database of the cluster.</summary>
    public static void Restore(int port, string dump, string database)
    {
        CreateDatabase(port, database);
        Run("pg_restore", "--no-owner", "--exit-on-error", "-h", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "postgres", "-d", database, dump);
    }

    /// <summary>
    /// The checkpoint of a rollback on PostgreSQL: a pg_dump (no SQLite copy) restored into "restored" for the caller to
    /// inspect, the migration list before the rollback, and the password in no message and no state file.
    /// </summary>
    public static void AssertDumpedCheckpoint(GitFixture git, int port, string database, string appliedMigration, string password, RecordingObserver observer)
    {
        var checkpoint = Assert.Single(new CheckpointStore(git.State()).List());
        Assert.Contains("database.pgdump", checkpoint.Artefacts);
        Assert.DoesNotContain("database.sqlite3", checkpoint.Artefacts);
        Assert.Equal($"pg_dump of 127.0.0.1:{port}/{database}", checkpoint.Details["database_copy"]);
        Assert.Contains("[X] " + appliedMigration, File.ReadAllText(Path.Combine(checkpoint.Folder, "migrations.txt")));
        Restore(port, Path.Combine(checkpoint.Folder, "database.pgdump"), "restored");
        Assert.DoesNotContain(observer.Messages, m => m.Contains(password, StringComparison.Ordinal));
        foreach (var file in Directory.EnumerateFiles(git.StatePath, "*", SearchOption.AllDirectories))
        {
            Assert.DoesNotContain(password, File.ReadAllText(file));
        }
    }

    private static string Run(string program, params string[] arguments)
    {
        var run = ProcessRunner.RunAsync(new ProcessRequest(Find(program) ?? program, arguments) { Timeout = TimeSpan.FromMinutes(1) }, default).GetAwaiter().GetResult();
        Assert.True(run.ExitCode == 0, $"{program} {string.Join(' ', arguments)}: {run.CombinedOutput}");
        return run.StandardOutput;
    }

    /// <summary>A program on PATH, else in the newest /usr/lib/postgresql/N/bin.</summary>
    private static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists)
        ?? (Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0)
                .Select(d => Path.Combine(d, "bin", name)).FirstOrDefault(File.Exists)
            : null);
}

/// <summary>
/// A copy of tests/Fixtures/efcore-app (a console app on SQLite app.db, or on PostgreSQL given an Npgsql connection string:
/// migrations InitialCreate, AddNote, and Backfill whose Down throws) in a temp folder, with its database at a given
/// migration. The fixture is built once per test run, in a temp folder; each copy keeps the build's timestamps, so the tool
/// finds the build current and passes --no-build.
/// </summary>
public sealed class EfCoreProject : IDisposable
{
    public const string InitialCreate = "20240101000000_InitialCreate";
    public const string AddNote = "20240102000000_AddNote";
    public const string Backfill = "20240103000000_Backfill";

    private static readonly Lazy<(bool Available, string Reason)> Probe = new(() =>
    {
        try
        {
            var run = Dotnet(FixturePath(), TimeSpan.FromMinutes(3), "tool", "restore");
            return run.ExitCode == 0 ? (true, "ok") : (false, RollbackEngine.Tail(run.CombinedOutput, 4));
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (false, "no dotnet on PATH: " + e.Message);
        }
    });

    // <temp>/app: the built project; <temp>/states/<migration>.db: its database at each migration the tests start from.
    private static readonly Lazy<string> Built = new(Build);

    /// <summary>
    /// A copy on SQLite app.db at the migration; or, given a connection string (ConnectionStrings__App, passed to dotnet ef
    /// only through the request's ToolEnvironment), on that database, migrated there with the real 'dotnet ef database
    /// update' (to the newest migration when migration is null).
    /// </summary>
    public EfCoreProject(string? migration, string? connectionString = null)
    {
        Folder = Git.Temp.Combine("efcore-app");
        CopyTree(Path.Combine(Built.Value, "app"), Folder);
        if (connectionString is null)
        {
            File.Copy(Path.Combine(Built.Value, "states", (migration ?? Backfill) + ".db"), Database);
            return;
        }

        Environment = new Dictionary<string, string> { ["ConnectionStrings__App"] = connectionString };
        var update = new[] { "ef", "database", "update" }.Concat(migration is null ? Array.Empty<string>() : new[] { migration }).Append("--no-build").ToArray();
        var run = Dotnet(Folder, TimeSpan.FromMinutes(2), Environment, update);
        Assert.True(run.ExitCode == 0, $"dotnet {string.Join(' ', update)}: {run.CombinedOutput}");
    }

    public static bool Available => Probe.Value.Available;
    public static string Reason => Probe.Value.Reason;
    public GitFixture Git { get; } = new();
    public string Folder { get; }
    public string Database => Path.Combine(Folder, "app.db");
    public IReadOnlyDictionary<string, string>? Environment { get; }

    /// <summary>An Npgsql connection string to a database of the cluster (the password is ignored there: trust).</summary>
    public static string Npgsql(PostgresCluster cluster, string database, string password) =>
        $"Host=127.0.0.1;Port={cluster.Port};Database={database};Username=postgres;Password={password}";

    public RollbackRequest Request(string? target) => new() { Deployment = new DatabaseTarget { Tool = "EfCore", Path = Folder, ToolEnvironment = Environment }, Target = target };

    /// <summary>What the real 'dotnet ef migrations list' prints, one line a migration ("20240102000000_AddNote (Pending)").</summary>
    public string[] MigrationsList()
    {
        var run = Dotnet(Folder, TimeSpan.FromMinutes(2), Environment, "ef", "migrations", "list", "--no-build");
        Assert.True(run.ExitCode == 0, run.CombinedOutput);
        return run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>Moves the SQLite database to a migration with the app's own migrate command (no dotnet ef start).</summary>
    public void Migrate(string migration)
    {
        var assembly = Directory.EnumerateFiles(Path.Combine(Folder, "bin", "Debug"), "EfCoreApp.dll", SearchOption.AllDirectories).Single();
        var run = Dotnet(Folder, TimeSpan.FromMinutes(1), assembly, "migrate", migration);
        Assert.True(run.ExitCode == 0, $"EfCoreApp migrate {migration}: {run.CombinedOutput}");
    }

    /// <summary>The migration ids in the history table, read straight from the SQLite file.</summary>
    public static string[] History(string database) => Query(database, "SELECT \"MigrationId\" FROM \"__EFMigrationsHistory\" ORDER BY 1");

    public static string[] Columns(string database, string table) => Query(database, $"SELECT name FROM pragma_table_info('{table}')");

    public void Dispose() => Git.Dispose();

    private static string[] Query(string database, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={database};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var values = new List<string>();
        while (reader.Read())
        {
            values.Add(reader.GetString(0));
        }

        return values.ToArray();
    }

    private static ProcessRunResult Dotnet(string folder, TimeSpan timeout, params string[] arguments) => Dotnet(folder, timeout, null, arguments);

    private static ProcessRunResult Dotnet(string folder, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment, params string[] arguments) =>
        ProcessRunner.RunAsync(new ProcessRequest("dotnet", arguments) { WorkingDirectory = folder, Timeout = timeout, Environment = environment }, default).GetAwaiter().GetResult();

    private static string Build()
    {
        // In CI the attributes do not consult the probe, so the restore it makes must happen here before any dotnet-ef call.
        Assert.True(Available, "dotnet tool restore in tests/Fixtures/efcore-app failed: " + Reason);
        var root = Path.Combine(Path.GetTempPath(), "dr-unit-efcore-" + Guid.NewGuid().ToString("N")[..10]);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        var app = Path.Combine(root, "app");
        var states = Directory.CreateDirectory(Path.Combine(root, "states")).FullName;
        CopyTree(FixturePath(), app);
        var watch = Stopwatch.StartNew();
        var build = Dotnet(app, TimeSpan.FromMinutes(5), "build", "--nologo", "-v", "quiet");
        Assert.True(build.ExitCode == 0, "dotnet build of the efcore-app fixture failed: " + build.CombinedOutput);
        Console.WriteLine($"efcore-app fixture built in {watch.Elapsed.TotalSeconds:F1} s");

        // The app migrates its own database (much quicker than a dotnet ef call): one copy at each starting state.
        var assembly = Directory.EnumerateFiles(Path.Combine(app, "bin", "Debug"), "EfCoreApp.dll", SearchOption.AllDirectories).Single();
        foreach (var migration in new[] { AddNote, Backfill })
        {
            var run = Dotnet(app, TimeSpan.FromMinutes(1), assembly, "migrate", migration);
            Assert.True(run.ExitCode == 0, $"EfCoreApp migrate {migration}: {run.CombinedOutput}");
            File.Copy(Path.Combine(app, "app.db"), Path.Combine(states, migration + ".db"));
        }

        File.Delete(Path.Combine(app, "app.db"));
        return root;
    }

    private static string FixturePath() => Path.Combine(TestPaths.RepositoryRoot, "tests", "Fixtures", "efcore-app");

    /// <summary>Copies a folder (without a database left in it, or bin/obj from a build in the repository), keeping each file's write time.</summary>
    private static void CopyTree(string from, string to)
    {
        var skipBuild = from == FixturePath();
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            var top = relative.Split(Path.DirectorySeparatorChar)[0];
            if (top.StartsWith("app.db", StringComparison.Ordinal) || (skipBuild && top is "bin" or "obj"))
            {
                continue;
            }

            var target = Path.Combine(to, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
            File.SetLastWriteTimeUtc(target, File.GetLastWriteTimeUtc(file));
        }
    }
}

public class EfCoreMigrationTests
{
    [RequiresFact(Component.EfCore)]
    public async Task Rolls_back_with_the_current_build_and_keeps_a_copy_that_is_the_database_before_the_rollback()
    {
        using var project = new EfCoreProject(EfCoreProject.AddNote);
        var observer = new RecordingObserver();

        var result = await RollbackEngine.InvokeAsync(project.Request("InitialCreate"), project.Git.Context(observer));

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, result.Message + string.Join('\n', result.Steps.Select(s => s.Message + s.Output)));
        Assert.Equal(EfCoreProject.AddNote, result.FromVersion);
        Assert.Equal(EfCoreProject.InitialCreate, result.ToVersion);
        Assert.Contains(observer.Asked, a => a.Contains($"Unapply with EfCore, in order: {EfCoreProject.AddNote}"));
        var downgrade = Assert.Single(result.Steps, s => s.Name.StartsWith("Downgrade", StringComparison.Ordinal));
        Assert.Contains($"Reverting migration '{EfCoreProject.AddNote}'", downgrade.Output);
        Assert.DoesNotContain("Build started", downgrade.Output); // the copy's build is current: --no-build
        Assert.Equal(new[] { EfCoreProject.InitialCreate, EfCoreProject.AddNote + " (Pending)", EfCoreProject.Backfill + " (Pending)" }, project.MigrationsList());
        Assert.DoesNotContain("Note", EfCoreProject.Columns(project.Database, "orders"));
        var checkpoint = Assert.Single(new CheckpointStore(project.Git.State()).List());
        Assert.Contains("database.sqlite3", checkpoint.Artefacts);
        Assert.Equal(project.Database, checkpoint.Details["database_copy"]);
        Assert.Contains($"[X] {EfCoreProject.AddNote}", File.ReadAllText(Path.Combine(checkpoint.Folder, "migrations.txt")));
        var copy = Path.Combine(checkpoint.Folder, "database.sqlite3");
        Assert.Equal(new[] { EfCoreProject.InitialCreate, EfCoreProject.AddNote }, EfCoreProject.History(copy));
        Assert.Contains("Note", EfCoreProject.Columns(copy, "orders"));
    }

    [RequiresFact(Component.EfCore)]
    public async Task A_migrations_lock_row_left_in_the_database_stops_the_downgrade_with_what_to_do_and_changes_nothing()
    {
        using var project = new EfCoreProject(EfCoreProject.AddNote);
        using (var connection = new SqliteConnection($"Data Source={project.Database};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            // EF Core 9 and 10 take their migrations lock as a row in this table (made by the migrations that ran): the row a failed run can leave behind.
            command.CommandText = "INSERT INTO \"__EFMigrationsLock\" (\"Id\", \"Timestamp\") VALUES (1, '2026-12-01 10:00:00+00:00');";
            command.ExecuteNonQuery();
        }

        var result = await RollbackEngine.InvokeAsync(project.Request("InitialCreate"), project.Git.Context());

        Assert.NotEqual(RollbackOutcome.Succeeded, result!.Outcome);
        var failed = Assert.Single(result.Steps, s => s.Status == StepStatus.Failed);
        Assert.Equal(ErrorIds.DatabaseToolFailed, failed.ErrorId);
        Assert.Contains("__EFMigrationsLock", failed.Message);
        Assert.Contains("2026-12-01 10:00:00", failed.Message);
        Assert.Equal(new[] { EfCoreProject.InitialCreate, EfCoreProject.AddNote }, EfCoreProject.History(project.Database));
    }

    [RequiresFact(Component.EfCore)]
    public async Task Unknown_or_unapplied_targets_and_folders_without_a_project_are_refused_with_the_known_migrations()
    {
        using var project = new EfCoreProject(EfCoreProject.AddNote);
        var empty = Directory.CreateDirectory(project.Git.Temp.Combine("no-project")).FullName;

        var unknown = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request("AddNotes; rm -rf /"), project.Git.Context()));
        var ahead = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request("Backfill"), project.Git.Context()));
        var noProject = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request("0").WithTarget<DatabaseTarget>(t => t with { Path = empty }), project.Git.Context()));
        var noDotnet = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request("0").WithTarget<DatabaseTarget>(t => t with { ToolPath = "/nonexistent/dotnet" }), project.Git.Context()));
        File.WriteAllText(project.Git.Temp.Combine("not-a-database.db"), new string('x', 200));
        var unreachable = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(
            project.Request("0").WithTarget<DatabaseTarget>(t => t with { ToolEnvironment = new Dictionary<string, string> { ["ConnectionStrings__App"] = "Data Source=" + project.Git.Temp.Combine("not-a-database.db") } }),
            project.Git.Context()));

        Assert.Equal(ErrorIds.DatabaseMigrationUnknown, unknown.ErrorId);
        Assert.Contains($"{EfCoreProject.InitialCreate}, {EfCoreProject.AddNote}, {EfCoreProject.Backfill}, or 0", unknown.Message);
        Assert.Equal(ErrorIds.DatabaseMigrationUnknown, ahead.ErrorId);
        Assert.Contains("would apply migrations", ahead.Message);
        Assert.Equal(ErrorIds.DatabaseProjectNotFound, noProject.ErrorId);
        Assert.Equal(ErrorIds.DatabaseToolNotInstalled, noDotnet.ErrorId);
        Assert.Equal(ErrorIds.DatabaseUnreachable, unreachable.ErrorId);
        Assert.Contains("file is not a database", unreachable.Message);
        Assert.Equal(new[] { EfCoreProject.InitialCreate, EfCoreProject.AddNote }, EfCoreProject.History(project.Database));
        Assert.Empty(project.Git.State().Journal.GetAttempts());
    }
}
