using System.Data.Common;
using System.Globalization;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine.Database;

/// <summary>
/// Strategy C: migrations rolled back with the project's own migration tool, planned first (so -WhatIf lists exactly
/// what would be unapplied, and irreversible migrations stop it before anything runs), the database copied first where
/// that is cheap, and an inconsistent database escalated at once.
/// </summary>
public sealed partial class DatabaseSession : IRollbackSession
{
    private const string StepDowngrade = "Downgrade";

    // The plan's verdict and the tool (whose migration list is kept between calls), for one invocation.
    private DowngradePlan? planned;
    private MigrationTool? tool;

    private readonly RollbackRequest request;
    private readonly EngineContext context;

    public DatabaseSession(RollbackRequest request, EngineContext context)
    {
        this.request = request;
        this.context = context;
        Target = ResolveTarget(request);
        Tool(request).Start(context.Cancellation);
    }

    public TargetIdentity Target { get; }

    private string Name => request.Strategy;

    private static DatabaseTarget Of(RollbackRequest request) => request.DeploymentAs<DatabaseTarget>();

    public ValueTask DisposeAsync() => tool?.DisposeAsync() ?? ValueTask.CompletedTask;

    private TargetIdentity ResolveTarget(RollbackRequest request)
    {
        var tool = Tool(request);
        return new TargetIdentity($"db:{tool.Name.ToLowerInvariant()}:{Folder(request)}{(tool.Scope.Length > 0 ? "#" + tool.Scope : "")}", Folder(request));
    }

    public async Task<StrategyAssessment> AssessAsync()
    {
        var target = Target;
        var tool = Tool(request);
        var migrations = await tool.ListAsync(context.Cancellation).ConfigureAwait(false);
        var current = migrations.LastOrDefault(m => m.Applied)?.Name ?? "zero";
        // The same default target Invoke-Rollback takes (when it is the current state, nothing to do).
        var lastGood = LastGood(migrations, current);
        var since = lastGood is null ? new List<Migration>() : migrations.SkipWhile(m => m.Name != lastGood.Version).Skip(1).Where(m => m.Applied).ToList();
        var irreversible = lastGood is null ? Array.Empty<string>() : (await tool.PlanDowngradeAsync(lastGood.Version, context.Cancellation).ConfigureAwait(false)).Irreversible;
        var facts = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["applied"] = string.Join(", ", migrations.Where(m => m.Applied).Select(m => m.Name)),
            ["pending"] = string.Join(", ", migrations.Where(m => !m.Applied).Select(m => m.Name)),
            ["applied_since_verified"] = string.Join(", ", since.Select(m => m.Name)),
            ["irreversible"] = string.Join(", ", irreversible),
        };
        return new StrategyAssessment
        {
            CurrentVersion = current,
            LastGoodVersion = lastGood?.Version,
            LastGoodSource = lastGood?.Source,
            AffectedComponents = new[] { target.Location },
            Changes = since.Select(m => m.Name + (irreversible.Contains(m.Name) ? " (irreversible)" : "")).Reverse().ToList(),
            Facts = facts,
            Rationale = lastGood is null
                ? "No verified-good migration state is recorded for this project: pass -Target with the migration to go back to."
                : irreversible.Count > 0
                    ? $"Going back to {lastGood.Version} would need {string.Join(", ", irreversible)} undone, which cannot be: restore the database from a backup, or by hand."
                    : $"Unapply {since.Count} migration(s) with {tool.Name} to return to {lastGood.Version}, the state recorded verified-good.",
        };
    }

    public async Task<VersionIdentity> CaptureCheckpointAsync(CheckpointWriter writer)
    {
        var tool = Tool(request);
        var migrations = await tool.ListAsync(context.Cancellation).ConfigureAwait(false);
        writer.AddText("migrations.txt", string.Join('\n', migrations.Select(m => $"[{(m.Applied ? "X" : " ")}] {m.Name}")) + "\n");
        if (await tool.SqliteFileAsync(context.Cancellation).ConfigureAwait(false) is { } database && File.Exists(database))
        {
            writer.AddFileCopy("database.sqlite3", database);
            writer.Details["database_copy"] = database;
        }
        else if (await PostgresDatabaseAsync(request, tool, context.Cancellation).ConfigureAwait(false) is { } postgres)
        {
            writer.Details["database_copy"] = await PgDumpAsync(postgres, System.IO.Path.Combine(writer.Folder, "database.pgdump"), context.Cancellation).ConfigureAwait(false);
            if (File.Exists(System.IO.Path.Combine(writer.Folder, "database.pgdump")))
            {
                writer.AddExisting("database.pgdump");
            }
        }

        var state = migrations.LastOrDefault(m => m.Applied)?.Name ?? "zero";
        writer.Details["state"] = state;
        return (state, null);
    }

    /// <summary>
    /// The default target by the last-good rule: the state the last rollback went to while the database is there, else
    /// the newest state recorded verified-good (when that is the current one, nothing to do); no fallback: without a
    /// record, -Target is needed.
    /// </summary>
    private LastGood? LastGood(IReadOnlyList<Migration> migrations, string current) =>
        LastGoodRule.Find(context.State.Journal, Target.Key, request.Strategy, new States(migrations, current));

    private sealed class States(IReadOnlyList<Migration> migrations, string current) : ILastGoodHooks
    {
        public string? Locate(string version, string? recordedIdentity) =>
            version == "zero" || migrations.Any(m => m.Name == version) ? version : null;

        public bool IsCurrent(string identity) => identity == current;

        public bool StaysOnNewestVerified => true;

        public LastGood? Fallback(IReadOnlySet<string> rolledBackFrom) => null;
    }

    public async Task<RollbackPlan> PlanAsync()
    {
        var target = Target;
        var tool = Tool(request);
        var current = await tool.StateAsync(context.Cancellation).ConfigureAwait(false);
        var goal = request.Target ?? LastGood(await tool.ListAsync(context.Cancellation).ConfigureAwait(false), current)?.Version
            ?? throw new RollbackException(ErrorIds.DatabaseTargetMissing, RollbackErrorKind.InvalidArgument,
                $"No verified-good migration state is recorded for {target.Key}. Pass -Target with the migration to roll back to (see Get-RollbackAssessment).")
            { TargetName = target.Key };
        planned = await tool.PlanDowngradeAsync(goal, context.Cancellation).ConfigureAwait(false);
        var list = string.Join(", ", planned.Unapply);
        return new RollbackPlan
        {
            Strategy = Name,
            TargetKey = target.Key,
            Path = target.Location,
            FromVersion = current,
            ToVersion = planned.Target ?? goal,
            Changes = planned.Unapply.ToList(),
            SkipReason = planned.Unapply.Count == 0 ? $"The database is already at {goal}: nothing to unapply." : null,
            Blockers = planned.Irreversible.Count > 0 && planned.Unapply.Count > 0
                ? new[] { $"{string.Join(", ", planned.Irreversible)} cannot be undone with {tool.Name}: roll forward instead (fix the release and deploy it), or restore the database from a backup by hand" }
                : Array.Empty<string>(),
            Steps = new[]
            {
                new PlanStep
                {
                    Order = 1, Action = StepDowngrade, Target = planned.Target ?? goal,
                    Description = planned.Irreversible.Count > 0
                        ? $"Stop before migrating: {string.Join(", ", planned.Irreversible)} cannot be undone (would unapply, in order: {list})"
                        : $"Unapply with {tool.Name}, in order: {list}",
                },
            },
        };
    }

    public async Task<StepResult> ExecuteStepAsync(PlanStep step, RollbackPlan plan, RollbackCheckpoint checkpoint)
    {
        var tool = Tool(request);
        var result = new StepResult { Name = $"{step.Action} {tool.Name} to {step.Target}", StartedAt = DateTimeOffset.UtcNow, Status = StepStatus.Succeeded };
        if (planned!.Irreversible.Count > 0)
        {
            result.Status = StepStatus.Failed;
            result.Escalate = true;
            result.ErrorId = ErrorIds.DatabaseIrreversibleMigration;
            result.Message = $"{string.Join(", ", planned.Irreversible)} cannot be undone, so nothing was unapplied; the database is still at {plan.FromVersion}. Restore it from a backup (the checkpoint holds a copy where one was cheap) or by hand.";
            return result;
        }

        var before = (await tool.ListAsync(context.Cancellation).ConfigureAwait(false)).Where(m => m.Applied).Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        var run = await tool.DowngradeAsync(step.Target, context.Cancellation).ConfigureAwait(false);
        var after = (await tool.ListAsync(context.Cancellation).ConfigureAwait(false)).Where(m => m.Applied).Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        var ran = planned.Unapply.Where(m => before.Contains(m) && !after.Contains(m)).ToList();
        var notRun = planned.Unapply.Except(ran).ToList();
        result.Output = SecretRedactor.Redact(RollbackEngine.Tail(run.CombinedOutput, 30));
        result.Duration = DateTimeOffset.UtcNow - result.StartedAt;
        if (run.ExitCode == 0 && notRun.Count == 0)
        {
            result.Message = $"Unapplied {string.Join(", ", ran)}; the database is at {step.Target}.";
            return result;
        }

        // Stopped part-way: some migrations ran, some did not. The database is between versions: a person must decide.
        var irreversible = new[] { "Irreversible", "not reversible", "NotImplementedError", "NotSupportedException" }.Any(marker => run.CombinedOutput.Contains(marker, StringComparison.OrdinalIgnoreCase));
        result.Status = StepStatus.Failed;
        result.Escalate = ran.Count > 0 || irreversible;
        result.ErrorId = irreversible ? ErrorIds.DatabaseIrreversibleMigration : ErrorIds.DatabaseToolFailed;
        var now = await tool.StateAsync(context.Cancellation).ConfigureAwait(false);
        result.Message = string.Create(CultureInfo.InvariantCulture,
            $"{tool.Name} stopped (exit code {run.ExitCode}){(irreversible ? " at an irreversible migration" : "")}. Unapplied: {(ran.Count == 0 ? "none" : string.Join(", ", ran))}; not unapplied: {string.Join(", ", notRun)}. The database is now at {now}.");
        return result;
    }

    public Task<StepResult?> CompleteAsync(RollbackPlan plan, bool verified) => Task.FromResult<StepResult?>(null);

    public async Task<VersionIdentity> GetCurrentVersionAsync() =>
        (await Tool(request).StateAsync(context.Cancellation).ConfigureAwait(false), null);

    public Task<bool> CaptureVerifiedSnapshotAsync(string folder) => Task.FromResult(false);

    [GeneratedRegex(@"^postgres(?:ql)?(?:\+\w+)?://", RegexOptions.IgnoreCase)]
    private static partial Regex PostgresScheme();

    /// <summary>A PostgreSQL URL the tool is given through -ToolEnvironment (e.g. DATABASE_URL), if any.</summary>
    private static string? PostgresUrl(RollbackRequest request) => Of(request).ToolEnvironment?.Values.FirstOrDefault(v => PostgresScheme().IsMatch(v));

    /// <summary>
    /// The PostgreSQL database the tool is given through -ToolEnvironment, for pg_dump: a URL (DATABASE_URL, say), or, when
    /// the tool says it reaches its database through Npgsql (EF Core's PostgreSQL provider, whose connection strings are
    /// key/value, not URLs), a connection string with a Host (ConnectionStrings__App=Host=...;Database=...). Only then:
    /// Host= alone does not say PostgreSQL (MySQL's connectors take it too).
    /// </summary>
    private static async Task<PgDatabase?> PostgresDatabaseAsync(RollbackRequest request, MigrationTool tool, CancellationToken cancellation)
    {
        if (PostgresUrl(request) is { } url)
        {
            var uri = new Uri(PostgresScheme().Replace(url, "postgresql://"));
            var credentials = uri.UserInfo.Split(':', 2);
            return new PgDatabase(new UriBuilder(uri) { Password = "" }.Uri.ToString(), credentials.Length > 1 ? Uri.UnescapeDataString(credentials[1]) : "",
                $"{uri.Host}:{uri.Port}{uri.AbsolutePath}");
        }

        return Of(request).ToolEnvironment is { Count: > 0 } environment && await tool.UsesNpgsqlAsync(cancellation).ConfigureAwait(false)
            ? environment.Values.Select(NpgsqlDatabase).FirstOrDefault(d => d is not null)
            : null;
    }

    /// <summary>What pg_dump's --dbname is given (a URL or a libpq connection string, without the password), the password, and where it is (for the details).</summary>
    internal sealed record PgDatabase(string DbName, string Password, string Description);

    /// <summary>
    /// An Npgsql connection string ("Host=db;Port=5432;Database=app;Username=app;Password=...", Npgsql's synonyms too) as a
    /// libpq connection string for pg_dump, without the password; null for text that is not one with a Host (or Server).
    /// </summary>
    internal static PgDatabase? NpgsqlDatabase(string connectionString)
    {
        var builder = new DbConnectionStringBuilder();
        try
        {
            builder.ConnectionString = connectionString;
        }
        catch (ArgumentException)
        {
            return null;
        }

        string? Get(params string[] keys) => keys.Select(k => builder.TryGetValue(k, out var v) ? Convert.ToString(v, CultureInfo.InvariantCulture) : null)
            .FirstOrDefault(v => !string.IsNullOrWhiteSpace(v));
        if (Get("Host", "Server") is not { } host)
        {
            return null;
        }

        var port = Get("Port");
        var database = Get("Database", "DB");
        var user = Get("Username", "User Name", "UserName", "User Id", "UserId", "UID", "User");
        var sslMode = Get("SSL Mode", "SslMode")?.ToLowerInvariant() switch
        {
            "verifyca" => "verify-ca",
            "verifyfull" => "verify-full",
            var other => other,
        };
        var conninfo = new[] { ("host", host), ("port", port), ("dbname", database), ("user", user), ("sslmode", sslMode) }
            .Where(p => p.Item2 is not null).Select(p => $"{p.Item1}='{p.Item2!.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("'", @"\'", StringComparison.Ordinal)}'");
        return new PgDatabase(string.Join(' ', conninfo), Get("Password", "PSW", "PWD") ?? "", $"{host}:{port ?? "5432"}/{database ?? user ?? ""}");
    }

    /// <summary>
    /// A pg_dump (custom format) of the database before migrating down, where pg_dump is installed. The password goes
    /// through PGPASSWORD, never the command line. Returns what the checkpoint's details should say.
    /// </summary>
    private static async Task<string> PgDumpAsync(PgDatabase database, string destination, CancellationToken cancellation)
    {
        try
        {
            var run = await ProcessRunner.RunAsync(new ProcessRequest("pg_dump", new[] { "--format=custom", "--no-owner", "--file", destination, "--dbname", database.DbName })
            {
                Timeout = TimeSpan.FromMinutes(10),
                Environment = new Dictionary<string, string> { ["PGPASSWORD"] = database.Password },
            }, cancellation).ConfigureAwait(false);
            return run.ExitCode == 0 ? $"pg_dump of {database.Description}" : "pg_dump failed: " + SecretRedactor.Redact(RollbackEngine.Tail(run.CombinedOutput, 3));
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "no copy: pg_dump is not installed";
        }
    }

    private static string Folder(RollbackRequest request)
    {
        var folder = System.IO.Path.GetFullPath(Of(request).Path is { } given && !string.IsNullOrWhiteSpace(given) ? given : Environment.CurrentDirectory);
        return Directory.Exists(folder) ? folder : throw new RollbackException(ErrorIds.DatabaseProjectNotFound, RollbackErrorKind.ObjectNotFound,
            $"The project folder '{folder}' does not exist. Pass -Path with the application's folder.") { TargetName = folder };
    }

    private MigrationTool Tool(RollbackRequest request) => tool ??= CreateTool(request, context.State.ToolCacheDirectory);

    private static MigrationTool CreateTool(RollbackRequest request, string cacheFolder) => Of(request).Tool?.ToLowerInvariant() switch
    {
        "django" => new DjangoTool(request, Folder(request)),
        null => throw new RollbackException(ErrorIds.DatabaseToolUnknown, RollbackErrorKind.InvalidArgument,
            "The Database strategy needs -Tool: Django, Alembic, EfCore or Rails."),
        "alembic" => new AlembicTool(request, Folder(request)),
        "efcore" => new EfCoreTool(request, Folder(request), cacheFolder),
        "rails" => new RailsTool(request, Folder(request)),
        _ => throw new RollbackException(ErrorIds.DatabaseToolUnknown, RollbackErrorKind.InvalidArgument,
            $"'{Of(request).Tool}' is not a migration tool. Use Django, Alembic, EfCore or Rails."),
    };
}
