namespace DeploymentRollback.Engine.Database;

/// <summary>One migration as its tool lists it, oldest first.</summary>
public sealed record Migration(string Name, bool Applied);

/// <summary>
/// The migrations a downgrade would unapply, newest first, as the tool itself plans them; Target is the full name the
/// requested target resolved to (a prefix such as 0001 becomes 0001_initial), which is what the downgrade is given.
/// </summary>
public sealed record DowngradePlan(IReadOnlyList<string> Unapply, IReadOnlyList<string> Irreversible, string? Target = null);

/// <summary>
/// A migration tool driven through its own CLI (arguments as a list, extra environment never logged): list the
/// migrations, plan a downgrade, run it, and say where the database is for a cheap copy. Disposed at the end of the
/// invocation (a tool may keep a helper process for it).
/// </summary>
public abstract class MigrationTool : IAsyncDisposable
{
    protected MigrationTool(RollbackRequest request, string folder)
    {
        Request = request;
        Folder = folder;
    }

    private IReadOnlyList<Migration>? listed;

    protected RollbackRequest Request { get; }
    protected string Folder { get; }

    public abstract string Name { get; }

    /// <summary>What a target migration is named against (Django: the app; others: the whole project).</summary>
    public virtual string Scope => "";

    /// <summary>The migrations as the tool lists them; the list is kept until a downgrade runs (each tool start is slow).</summary>
    public async Task<IReadOnlyList<Migration>> ListAsync(CancellationToken cancellation) => listed ??= await ReadListAsync(cancellation).ConfigureAwait(false);

    protected abstract Task<IReadOnlyList<Migration>> ReadListAsync(CancellationToken cancellation);

    /// <summary>Forgets the kept list, after the database changed.</summary>
    protected void Changed() => listed = null;

    /// <summary>Keeps a list the tool read another way (after a downgrade, from the history table itself).</summary>
    protected void Listed(IReadOnlyList<Migration> migrations) => listed = migrations;

    /// <summary>The tool's own plan for going down to target; throws DatabaseMigrationUnknown (listing the known ones) for a bad name.</summary>
    public abstract Task<DowngradePlan> PlanDowngradeAsync(string target, CancellationToken cancellation);

    public abstract Task<ProcessRunResult> DowngradeAsync(string target, CancellationToken cancellation);

    /// <summary>The SQLite file the project uses, when it uses one (copied into the checkpoint).</summary>
    public virtual Task<string?> SqliteFileAsync(CancellationToken cancellation) => Task.FromResult<string?>(null);

    /// <summary>
    /// Whether the tool says it reaches its database through Npgsql (EF Core's PostgreSQL provider), whose connection
    /// strings are key/value (Host=...;Database=...), not URLs: then such a string in -ToolEnvironment names the database to copy.
    /// </summary>
    public virtual Task<bool> UsesNpgsqlAsync(CancellationToken cancellation) => Task.FromResult(false);

    /// <summary>The migration state in one string: the newest applied migration (or "zero").</summary>
    public async Task<string> StateAsync(CancellationToken cancellation)
    {
        var migrations = await ListAsync(cancellation).ConfigureAwait(false);
        return migrations.LastOrDefault(m => m.Applied)?.Name ?? "zero";
    }

    /// <summary>Starts what the tool's first command needs (a helper process), so that it starts while the module does its own work (lock, journal).</summary>
    public virtual void Start(CancellationToken cancellation)
    {
    }

    public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;

    protected async Task<ProcessRunResult> RunAsync(string fileName, IEnumerable<string> arguments, CancellationToken cancellation, TimeSpan? timeout = null)
    {
        try
        {
            return await ProcessRunner.RunAsync(new ProcessRequest(fileName, arguments.ToList())
            {
                WorkingDirectory = Folder,
                Timeout = timeout ?? TimeSpan.FromMinutes(5),
                Environment = Request.DeploymentAs<DatabaseTarget>().ToolEnvironment,
            }, cancellation).ConfigureAwait(false);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new RollbackException(ErrorIds.DatabaseToolNotInstalled, RollbackErrorKind.ObjectNotFound,
                $"The {Name} tool '{fileName}' cannot be started ({e.Message}). Install it, or pass -ToolPath with its path.", e)
            { TargetName = fileName };
        }
    }

    /// <summary>A tool run that failed to talk to its database, or failed at all, as the module's error.</summary>
    protected RollbackException Failed(string what, ProcessRunResult run)
    {
        var output = SecretRedactor.Redact(RollbackEngine.Tail(run.CombinedOutput, 8));
        var unreachable = output.Contains("could not connect", StringComparison.OrdinalIgnoreCase) || output.Contains("Connection refused", StringComparison.OrdinalIgnoreCase)
            || output.Contains("unable to open database", StringComparison.OrdinalIgnoreCase) || output.Contains("OperationalError", StringComparison.Ordinal);
        return new RollbackException(unreachable ? ErrorIds.DatabaseUnreachable : ErrorIds.DatabaseToolFailed, unreachable ? RollbackErrorKind.ConnectionError : RollbackErrorKind.InvalidOperation,
            $"{Name} could not {what} (exit code {run.ExitCode}){(unreachable ? ": it cannot reach its database; check the connection settings (-ToolEnvironment)" : "")}:\n{output}");
    }
}
