using DeploymentRollback.Engine;
using DeploymentRollback.Engine.Database;
using Microsoft.Data.Sqlite;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Database;

/// <summary>
/// A copy of tests/Fixtures/alembic-app (revisions 0001 create orders, 0002 add note, 0003 backfill whose downgrade is
/// empty: irreversible) in a temp folder; SQLite app.db there unless DATABASE_URL is given.
/// </summary>
public sealed class AlembicProject : IDisposable
{
    private static readonly Lazy<(bool Available, string Reason)> Probe = new(() =>
    {
        try
        {
            var run = ProcessRunner.RunAsync(new ProcessRequest("alembic", new[] { "--version" }), default).GetAwaiter().GetResult();
            return run.ExitCode == 0 ? (true, run.StandardOutput.Trim()) : (false, "'alembic --version' failed: " + run.CombinedOutput.Trim());
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (false, "no 'alembic' on PATH" + (e.Message.Contains("No such file", StringComparison.Ordinal) ? "" : $" ({e.Message})"));
        }
    });

    public AlembicProject(string? databaseUrl = null)
    {
        Folder = Git.Temp.Combine("alembic-app");
        Fixtures.CopyTo("alembic-app", Folder);
        Environment = databaseUrl is null ? null : new Dictionary<string, string> { ["DATABASE_URL"] = databaseUrl };
    }

    public static bool Available => Probe.Value.Available;
    public static string Reason => Probe.Value.Reason;
    public GitFixture Git { get; } = new();
    public string Folder { get; }
    public IReadOnlyDictionary<string, string>? Environment { get; }
    public string Database => Path.Combine(Folder, "app.db");

    public string Alembic(params string[] arguments)
    {
        var run = ProcessRunner.RunAsync(new ProcessRequest("alembic", arguments) { WorkingDirectory = Folder, Environment = Environment }, default).GetAwaiter().GetResult();
        Assert.True(run.ExitCode == 0, $"alembic {string.Join(' ', arguments)}: {run.CombinedOutput}");
        return run.StandardOutput;
    }

    /// <summary>What 'alembic current' says: "0002", or "" when nothing is applied.</summary>
    public string Current() => Alembic("current").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault()?.Split(' ')[0] ?? "";

    public RollbackRequest Request(string? target) => new() { Deployment = new DatabaseTarget { Tool = "Alembic", Path = Folder, ToolEnvironment = Environment }, Target = target };

    internal AlembicTool Tool() => new(Request(null), Folder);

    /// <summary>Replaces text in a file of the copy (a revision script, say).</summary>
    public void Edit(string file, string from, string to)
    {
        var path = Path.Combine(Folder, file);
        var text = File.ReadAllText(path);
        Assert.Contains(from, text);
        File.WriteAllText(path, text.Replace(from, to));
    }

    /// <summary>The columns of a table in a SQLite file.</summary>
    public static string[] Columns(string database, string table)
    {
        using var connection = new SqliteConnection($"Data Source={database};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT name FROM pragma_table_info('{table}')";
        using var reader = command.ExecuteReader();
        var columns = new List<string>();
        while (reader.Read())
        {
            columns.Add(reader.GetString(0));
        }

        return columns.ToArray();
    }

    public void Dispose() => Git.Dispose();
}

/// <summary>
/// A throwaway PostgreSQL cluster (initdb + pg_ctl, as the postgres OS user when root, as tests/Fixtures/Start-Unleash.ps1
/// does) on a free loopback port, trust authentication, removed on Dispose.
/// </summary>
public sealed class PostgresCluster : IDisposable
{
    private static readonly bool IsRoot = OperatingSystem.IsLinux() && System.Environment.UserName == "root";

    private static readonly Lazy<(bool Available, string Reason)> Probe = new(() =>
    {
        if (!OperatingSystem.IsLinux())
        {
            return (false, "only set up on Linux");
        }

        foreach (var tool in new[] { "initdb", "pg_ctl" })
        {
            if (Find(tool) is null)
            {
                return (false, $"{tool} is not installed (apt-get install postgresql)");
            }
        }

        if (IsRoot && (Run("id", "-u", "postgres").ExitCode != 0 || Find("runuser") is null))
        {
            return (false, "running as root needs the 'postgres' OS user and runuser to run PostgreSQL");
        }

        return (true, "ok");
    });

    private readonly string root;
    private readonly string data;

    public PostgresCluster()
    {
        root = Path.Combine(Path.GetTempPath(), "dr-unit-pg-" + Guid.NewGuid().ToString("N")[..10]);
        data = Path.Combine(root, "pg");
        Directory.CreateDirectory(root);
        Port = LocalHttpServer.FreePort();
        try
        {
            if (IsRoot)
            {
                Ok(Run("chown", "postgres", root));
            }

            Ok(Pg("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"));
            Ok(Pg("pg_ctl", "-w", "-t", "30", "-D", data, "-l", Path.Combine(root, "postgres.log"),
                "-o", $"-p {Port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off", "start"));
        }
        catch (Exception)
        {
            Dispose();
            throw;
        }
    }

    public static bool Available => Probe.Value.Available;
    public static string Reason => Probe.Value.Reason;
    public int Port { get; }

    /// <summary>A URL to the postgres database; the password is ignored (trust), and must never show in what the module writes.</summary>
    public string Url(string password) => $"postgresql://postgres:{password}@127.0.0.1:{Port}/postgres";

    public void Dispose()
    {
        if (File.Exists(Path.Combine(data, "postmaster.pid")))
        {
            Pg("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop");
        }

        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static ProcessRunResult Pg(string tool, params string[] arguments)
    {
        var path = Find(tool) ?? tool;
        return IsRoot ? Run("runuser", new[] { "-u", "postgres", "--", path }.Concat(arguments).ToArray()) : Run(path, arguments);
    }

    private static void Ok(ProcessRunResult run) => Assert.True(run.ExitCode == 0, "PostgreSQL could not be started: " + run.CombinedOutput);

    private static ProcessRunResult Run(string fileName, params string[] arguments)
    {
        try
        {
            return ProcessRunner.RunAsync(new ProcessRequest(fileName, arguments) { Timeout = TimeSpan.FromMinutes(1) }, default).GetAwaiter().GetResult();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return new ProcessRunResult(-1, "", $"{fileName} cannot be started: {e.Message}", TimeSpan.Zero, false);
        }
    }

    /// <summary>A program on PATH, else (PostgreSQL's, which Debian keeps off PATH) in the newest /usr/lib/postgresql/N/bin.</summary>
    private static string? Find(string name)
    {
        foreach (var directory in (System.Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0)
                .Select(d => Path.Combine(d, "bin", name)).FirstOrDefault(File.Exists)
            : null;
    }
}

public class AlembicMigrationTests
{
    [RequiresFact(Component.Alembic)]
    public async Task WhatIf_lists_the_revisions_in_order_and_changes_nothing()
    {
        using var project = new AlembicProject();
        project.Alembic("upgrade", "0002");
        var before = File.ReadAllBytes(project.Database);
        var observer = new RecordingObserver(consent: false);

        var result = await RollbackEngine.InvokeAsync(project.Request("base"), project.Git.Context(observer));

        Assert.Null(result);
        Assert.Contains(observer.Asked, a => a.Contains("Unapply with Alembic, in order: 0002, 0001"));
        Assert.Equal("0002", project.Current());
        Assert.Equal(before, File.ReadAllBytes(project.Database));
        Assert.Empty(new CheckpointStore(project.Git.State()).List());
        Assert.Empty(project.Git.State().Journal.GetAttempts());
    }

    [RequiresFact(Component.Alembic)]
    public async Task Irreversible_downgrades_are_the_empty_ones_and_those_that_raise_but_not_a_revision_that_changes_nothing()
    {
        using var project = new AlembicProject();
        project.Alembic("upgrade", "head");
        var asIs = await project.Tool().PlanDowngradeAsync("base", default);
        project.Edit("migrations/versions/0003_backfill_notes.py", "def downgrade() -> None:\n    pass", "def downgrade() -> None:\n    raise NotImplementedError(\"the old notes are gone\")");
        var raising = await project.Tool().PlanDowngradeAsync("0001", default);
        // A revision that changes nothing either way (upgrade and downgrade both pass) can be unapplied.
        File.WriteAllText(Path.Combine(project.Folder, "migrations/versions/0004_nothing.py"),
            "\"\"\"a revision with nothing in it\"\"\"\nrevision = \"0004\"\ndown_revision = \"0003\"\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n");
        project.Alembic("upgrade", "head");
        var noop = await project.Tool().PlanDowngradeAsync("0003", default);
        // An offline run that stops on a revision for another reason (SQLite batch mode needs a live database) reads the script.
        project.Edit("migrations/versions/0001_create_orders.py", "def downgrade() -> None:\n    op.drop_table(\"orders\")", "def downgrade() -> None:\n    \"\"\"No.\"\"\"\n    raise RuntimeError(\"keep the orders\")");
        var below = await project.Tool().PlanDowngradeAsync("base", default);

        Assert.Equal(new[] { "0003", "0002", "0001" }, asIs.Unapply);
        Assert.Equal(new[] { "0003" }, asIs.Irreversible);
        Assert.Equal(new[] { "0003", "0002" }, raising.Unapply);
        Assert.Equal(new[] { "0003" }, raising.Irreversible);
        Assert.Equal(new[] { "0004" }, noop.Unapply);
        Assert.Empty(noop.Irreversible);
        Assert.Equal(new[] { "0004", "0003", "0002", "0001" }, below.Unapply);
        Assert.Equal(new[] { "0003", "0001" }, below.Irreversible);
        Assert.Equal("0004", project.Current());
    }

    [RequiresFact(Component.Alembic)]
    public async Task A_target_is_one_literal_argument_and_unknown_revisions_list_the_known_ones()
    {
        using var project = new AlembicProject();
        project.Alembic("upgrade", "0002");
        var before = File.ReadAllBytes(project.Database);

        var unknown = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request("zzz; rm -rf /"), project.Git.Context()));
        var ahead = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request("0003"), project.Git.Context()));
        var ambiguous = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request("000"), project.Git.Context()));
        var noProject = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request("0001").WithTarget<DatabaseTarget>(t => t with { Path = project.Git.Temp.Path }), project.Git.Context()));
        var noTool = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request("0001").WithTarget<DatabaseTarget>(t => t with { ToolPath = "/nonexistent/alembic" }), project.Git.Context()));

        Assert.Equal(ErrorIds.DatabaseMigrationUnknown, unknown.ErrorId);
        Assert.Contains("'zzz; rm -rf /'", unknown.Message);
        Assert.Contains("0001, 0002, 0003; or base", unknown.Message);
        Assert.Equal(ErrorIds.DatabaseMigrationUnknown, ahead.ErrorId);
        Assert.Contains("would upgrade", ahead.Message);
        Assert.Equal(ErrorIds.DatabaseMigrationUnknown, ambiguous.ErrorId);
        Assert.Equal(ErrorIds.DatabaseProjectNotFound, noProject.ErrorId);
        Assert.Equal(ErrorIds.DatabaseToolNotInstalled, noTool.ErrorId);
        Assert.Equal("0002", project.Current());
        Assert.Equal(before, File.ReadAllBytes(project.Database));
        Assert.Empty(project.Git.State().Journal.GetAttempts());
    }

    [RequiresFact(Component.Alembic)]
    public async Task A_branched_history_is_refused_with_a_clear_error()
    {
        using var project = new AlembicProject();
        project.Alembic("upgrade", "0002");
        File.WriteAllText(Path.Combine(project.Folder, "migrations/versions/0004_other_branch.py"),
            "revision = \"0004\"\ndown_revision = \"0002\"\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n");

        var branched = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request("0001"), project.Git.Context()));

        Assert.Equal(ErrorIds.DatabaseToolFailed, branched.ErrorId);
        Assert.Equal(RollbackErrorKind.NotImplemented, branched.Kind);
        Assert.Contains("0002 is a branch point", branched.Message);
        Assert.Equal("0002", project.Current());
    }

    [RequiresFact(Component.Alembic)]
    public async Task Lists_the_revisions_and_finds_the_sqlite_file_env_py_uses()
    {
        using var project = new AlembicProject();
        project.Alembic("upgrade", "0002");
        using var other = new AlembicProject("sqlite:///data/other.db");
        Directory.CreateDirectory(Path.Combine(other.Folder, "data"));

        var list = await project.Tool().ListAsync(default);
        var plan = await project.Tool().PlanDowngradeAsync("0001", default);
        var file = await project.Tool().SqliteFileAsync(default);
        var otherFile = await other.Tool().SqliteFileAsync(default);

        Assert.Equal(new[] { new Migration("0001", true), new Migration("0002", true), new Migration("0003", false) }, list);
        Assert.Equal(new[] { "0002" }, plan.Unapply);
        Assert.Equal(project.Database, file);
        Assert.Equal(Path.Combine(other.Folder, "data", "other.db"), otherFile);
    }

    [RequiresFact(Component.Alembic)]
    public async Task Default_target_is_the_revision_recorded_verified_good()
    {
        using var project = new AlembicProject();
        using var server = new LocalHttpServer((_, _) => (200, "ok"));
        project.Alembic("upgrade", "0001");
        var recorded = await RollbackEngine.TestHealthAsync(project.Request(null) with { Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri(server.Url()) } } } },
            null, recordVerified: true, signalOnFailure: false, project.Git.Context());
        project.Alembic("upgrade", "0002");

        var assessment = await RollbackEngine.AssessAsync(project.Request(null), project.Git.Context());
        var result = await RollbackEngine.InvokeAsync(project.Request(null), project.Git.Context());

        Assert.Equal("0001", recorded.RecordedVerifiedVersion);
        Assert.Equal("0001", assessment.LastGoodVersion);
        Assert.Equal("0002", assessment.Facts["applied_since_verified"]);
        Assert.Equal("", assessment.Facts["irreversible"]);
        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal("0001", project.Current());
    }
}
