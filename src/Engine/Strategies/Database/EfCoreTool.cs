using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;

namespace DeploymentRollback.Engine.Database;

/// <summary>
/// EF Core: 'dotnet ef migrations list --json', 'migrations script &lt;current&gt; &lt;target&gt;' (the down SQL, made without
/// touching the database, to find the migrations that cannot be undone) and 'database update &lt;target&gt;', run in the
/// project's folder (dotnet-ef from its tool manifest or a global install; -ToolPath replaces the dotnet executable).
/// Migrations are named by their full id (20240102000000_AddNote); a target may also be the name (AddNote), the
/// timestamp, or 0 / zero for none.
/// </summary>
internal sealed partial class EfCoreTool : MigrationTool
{

    private const string SqliteProvider = "Microsoft.EntityFrameworkCore.Sqlite";
    private const string NpgsqlProvider = "Npgsql.EntityFrameworkCore.PostgreSQL";
    private static readonly string[] SourceExtensions = { ".cs", ".csproj", ".props", ".targets", ".resx" };

    private readonly string dotnet;
    private readonly string project;

    // The short names dotnet ef gives (AddNote for 20240102000000_AddNote), from the last list.
    private readonly Dictionary<string, string> shortNames = new(StringComparer.Ordinal);

    // What the last list's verbose log said about the database: its provider and, once opened, the SQLite file.
    private bool sqliteSeen;
    private bool npgsqlSeen;
    private string? sqliteOpened;

    // Where the project's ef.dll invocation is kept between runs (EfCoreDirect), and the one in use.
    private readonly string directFile;
    private EfCoreDirect? direct;
    private bool directLoaded;

    // The helper that runs ef.dll's commands in one process (DeploymentRollback.EfCoreHelper), once the invocation is known.
    private readonly ToolHelperSlot helper = new();

    public EfCoreTool(RollbackRequest request, string folder, string cacheFolder)
        : base(request, folder)
    {
        var projects = Directory.GetFiles(folder, "*.csproj");
        if (projects.Length != 1)
        {
            throw new RollbackException(ErrorIds.DatabaseProjectNotFound, RollbackErrorKind.ObjectNotFound, projects.Length == 0
                ? $"There is no *.csproj in {folder}. Pass -Path with the folder of the project that holds the DbContext and its migrations."
                : $"There are {projects.Length} projects in {folder} ({string.Join(", ", projects.Select(System.IO.Path.GetFileName))}). Pass -Path with a folder that holds only the project with the DbContext and its migrations.")
            { TargetName = folder };
        }

        project = projects[0];
        dotnet = request.DeploymentAs<DatabaseTarget>().ToolPath ?? "dotnet";
        directFile = System.IO.Path.Combine(cacheFolder, "efcore-" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(project)))[..16] + ".json");
    }

    public override string Name => "EfCore";

    [GeneratedRegex(@"on server '(?<path>[^']+)'\.\s*$")]
    private static partial Regex OpenedLine();

    // A frame of the exception a migration's Down threw: "at EfCoreApp.Migrations.Backfill.Down(MigrationBuilder migrationBuilder)".
    // ("at" is left out: .NET translates it.)
    [GeneratedRegex(@"\s(?<type>[\w.+`]+)\.Down\(MigrationBuilder\b")]
    private static partial Regex DownFrame();

    // The first list, started with the session (while the module takes its lock and opens its journal).
    private Task<IReadOnlyList<Migration>>? early;

    public override void Start(CancellationToken cancellation) => early ??= Task.Run(() => ReadListNowAsync(cancellation), cancellation);

    public override async ValueTask DisposeAsync()
    {
        if (early is { } unused)
        {
            // Never asked for (the command stopped before it listed): let its dotnet process end, and drop its outcome.
            early = null;
            try
            {
                await unused.ConfigureAwait(false);
            }
            catch (Exception e) when (e is RollbackException or OperationCanceledException or IOException)
            {
            }
        }

        await helper.StopAsync().ConfigureAwait(false);
    }

    protected override async Task<IReadOnlyList<Migration>> ReadListAsync(CancellationToken cancellation)
    {
        if (early is { } started)
        {
            early = null;
            return await started.ConfigureAwait(false);
        }

        return await ReadListNowAsync(cancellation).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<Migration>> ReadListNowAsync(CancellationToken cancellation)
    {
        // --verbose for the database the list opened (EF logs "Opened connection to database 'main' on server '/abs/app.db'.").
        var run = await EfAsync(new[] { "migrations", "list", "--json", "--verbose" }, "list the migrations", cancellation).ConfigureAwait(false);
        if (run.ExitCode != 0)
        {
            throw Failed("list the migrations", run);
        }

        var migrations = new List<Migration>();
        var unknown = false;
        shortNames.Clear();
        try
        {
            foreach (var (id, name, applied) in EfCoreText.MigrationsList(string.Join('\n', EfCoreText.Lines(run.StandardOutput, "data"))))
            {
                shortNames[id] = name;
                unknown |= applied is null;
                migrations.Add(new Migration(id, applied == true));
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            throw new RollbackException(ErrorIds.DatabaseToolFailed, RollbackErrorKind.InvalidOperation,
                $"EfCore could not list the migrations: 'dotnet ef migrations list --json' printed no list it could read ({e.Message}):\n{SecretRedactor.Redact(RollbackEngine.Tail(run.CombinedOutput, 8))}", e);
        }

        // dotnet ef goes on without the database when it cannot reach it, and says "applied": null.
        if (unknown)
        {
            var warning = string.Join(" ", EfCoreText.Lines(run.StandardOutput, "warn").Concat(EfCoreText.Lines(run.StandardOutput, "error")).Where(l => l.Length > 0));
            throw new RollbackException(ErrorIds.DatabaseUnreachable, RollbackErrorKind.ConnectionError,
                $"EfCore cannot tell which migrations are applied: it cannot reach its database; check the connection settings (-ToolEnvironment). {SecretRedactor.Redact(warning)}".TrimEnd());
        }

        var verbose = EfCoreText.Lines(run.StandardOutput, "verbose").ToList();
        sqliteSeen = verbose.Any(l => l.Contains($"'{SqliteProvider}'", StringComparison.Ordinal));
        npgsqlSeen = verbose.Any(l => l.Contains($"'{NpgsqlProvider}'", StringComparison.Ordinal));
        sqliteOpened = sqliteSeen ? verbose.Where(l => l.StartsWith("Opened connection", StringComparison.Ordinal)).Select(l => OpenedLine().Match(l))
            .Where(m => m.Success).Select(m => m.Groups["path"].Value).LastOrDefault() : null;
        return migrations;
    }

    public override async Task<DowngradePlan> PlanDowngradeAsync(string target, CancellationToken cancellation)
    {
        var migrations = await ListAsync(cancellation).ConfigureAwait(false);
        var id = Resolve(target, migrations);
        if (id != "0" && !migrations.First(m => m.Name == id).Applied)
        {
            throw new RollbackException(ErrorIds.DatabaseMigrationUnknown, RollbackErrorKind.InvalidArgument,
                $"Migration {id} is not applied: going to it would apply migrations, not roll any back. Applied: {Joined(migrations.Where(m => m.Applied), "none")}.") { TargetName = target };
        }

        var above = id == "0" ? migrations : migrations.SkipWhile(m => m.Name != id).Skip(1);
        var unapply = above.Where(m => m.Applied).Select(m => m.Name).Reverse().ToList();
        var irreversible = new List<string>();

        // Irreversible migrations, found before anything runs: 'dotnet ef migrations script <from> <target>' builds the down
        // SQL from each migration's Down() without touching the database. A Down() that throws (NotSupportedException, say)
        // fails the script, with its frame (<Class>.Down(MigrationBuilder ...)) in the stack trace: that migration cannot be
        // undone, and the script is made again from the one below it to check the rest. A Down() that is empty leaves
        // nothing but the history row's DELETE for its migration: undoing it would only forget that it ran.
        var from = 0;
        while (from < unapply.Count)
        {
            var run = await EfAsync(new[] { "migrations", "script", unapply[from], id, "--verbose" }, "plan the rollback", cancellation).ConfigureAwait(false);
            if (run.ExitCode == 0)
            {
                irreversible.AddRange(EfCoreText.EmptyDowns(string.Join('\n', EfCoreText.Lines(run.StandardOutput, "data"))).Where(m => unapply.IndexOf(m) >= from));
                break;
            }

            var thrower = DownFrame().Matches(run.CombinedOutput).Select(m => m.Groups["type"].Value.Split('.', '+')[^1])
                .Select(type => unapply.Skip(from).FirstOrDefault(m => shortNames.GetValueOrDefault(m) == type || m.EndsWith("_" + type, StringComparison.Ordinal)))
                .FirstOrDefault(m => m is not null);
            if (thrower is null)
            {
                throw Failed("plan the rollback ('dotnet ef migrations script' failed, and not in a migration's Down)", run);
            }

            irreversible.Add(thrower);
            from = unapply.IndexOf(thrower) + 1;
        }

        // In the order they would be unapplied.
        return new DowngradePlan(unapply, unapply.Where(irreversible.Contains).ToList(), id);
    }

    public override async Task<ProcessRunResult> DowngradeAsync(string target, CancellationToken cancellation)
    {
        var id = Resolve(target, await ListAsync(cancellation).ConfigureAwait(false));
        if (await SqliteFileAsync(cancellation).ConfigureAwait(false) is { } database && LockedSince(database) is { } since)
        {
            throw new RollbackException(ErrorIds.DatabaseToolFailed, RollbackErrorKind.ResourceBusy,
                $"The database {database} holds EF Core's migrations lock (a row in __EFMigrationsLock, taken {since}), so 'dotnet ef database update' would wait for ever. " +
                "Another migration is running, or one that failed left the lock behind (EF Core 9 and 10 on SQLite do not always release it). " +
                "If no migration is running, delete the row (DELETE FROM \"__EFMigrationsLock\";) and try again.") { TargetName = database };
        }

        var known = await ListAsync(cancellation).ConfigureAwait(false);
        ProcessRunResult? run = null;
        try
        {
            run = await EfAsync(new[] { "database", "update", id }, "roll back", cancellation, TimeSpan.FromMinutes(30)).ConfigureAwait(false);
            return run;
        }
        finally
        {
            Changed();
            // The list after it: on SQLite read from the history table itself (a dotnet ef start less); else dotnet ef lists again.
            if (run is not null && sqliteOpened is { } file && Applied(file) is { } applied && applied.All(known.Select(m => m.Name).Contains))
            {
                Listed(known.Select(m => m with { Applied = applied.Contains(m.Name) }).ToList());
            }
        }
    }

    /// <summary>The migration ids in the SQLite file's __EFMigrationsHistory, or null when it cannot be read.</summary>
    private static HashSet<string>? Applied(string database) => ReadSqlite(database, connection =>
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT \"MigrationId\" FROM \"__EFMigrationsHistory\"";
        using var reader = command.ExecuteReader();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        while (reader.Read())
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    });

    /// <summary>What read finds in the SQLite file, opened read-only; null when there is no file or it is not readable as a database.</summary>
    private static T? ReadSqlite<T>(string database, Func<SqliteConnection, T?> read)
        where T : class
    {
        if (!File.Exists(database))
        {
            return null;
        }

        try
        {
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = database, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
            connection.Open();
            return read(connection);
        }
        catch (SqliteException)
        {
            // Not readable as a SQLite database (or without the table): dotnet ef will say why, or lists instead.
            return null;
        }
    }

    public override async Task<string?> SqliteFileAsync(CancellationToken cancellation)
    {
        await ListAsync(cancellation).ConfigureAwait(false);
        if (sqliteOpened is not null)
        {
            return sqliteOpened;
        }

        if (!sqliteSeen)
        {
            return null;
        }

        // SQLite, but the list did not open the file (it does not exist yet): ask for the data source, relative to the project folder.
        var run = await EfAsync(new[] { "dbcontext", "info", "--json" }, "describe the DbContext", cancellation).ConfigureAwait(false);
        if (run.ExitCode != 0)
        {
            return null;
        }

        try
        {
            using var json = JsonDocument.Parse(string.Join('\n', EfCoreText.Lines(run.StandardOutput, "data")));
            var source = json.RootElement.TryGetProperty("dataSource", out var value) ? value.GetString() : null;
            return string.IsNullOrWhiteSpace(source) || source.StartsWith(':') || source.StartsWith("file:", StringComparison.OrdinalIgnoreCase)
                ? null : System.IO.Path.GetFullPath(source, Folder);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The verbose log names the provider: "Using design-time services from provider 'Npgsql.EntityFrameworkCore.PostgreSQL'."</summary>
    public override async Task<bool> UsesNpgsqlAsync(CancellationToken cancellation)
    {
        await ListAsync(cancellation).ConfigureAwait(false);
        return npgsqlSeen;
    }

    /// <summary>
    /// Runs one dotnet ef command with --prefix-output (so build and log lines are told apart from the data): through
    /// ef.dll directly when the build is current and the project's invocation is known (EfCoreDirect), else through
    /// dotnet ef (--no-build when the build is current), whose verbose log then teaches the invocation.
    /// </summary>
    private async Task<ProcessRunResult> EfAsync(IReadOnlyList<string> command, string what, CancellationToken cancellation, TimeSpan? timeout = null)
    {
        var current = BuildIsCurrent();
        if (current && Direct() is { } known)
        {
            ProcessRunResult fast;
            if (await helper.RunningAsync(() => StartHelperAsync(known, cancellation)).ConfigureAwait(false) is { } running)
            {
                fast = await running.RunAsync(new JsonObject { ["command"] = new JsonArray(known.ToolArguments(command).Select(a => (JsonNode?)a).ToArray()) }, timeout ?? TimeSpan.FromMinutes(5), cancellation).ConfigureAwait(false);
                if (!running.Alive)
                {
                    // The helper died or timed out on this command: that is the command's outcome, as a crashed or timed-out
                    // ef.dll's was; the next command starts ef.dll itself.
                    return fast;
                }
            }
            else
            {
                fast = await RunAsync(dotnet, known.Arguments(command), cancellation, timeout).ConfigureAwait(false);
            }

            if (fast.ExitCode == 0 || EfCoreText.Started(fast.StandardOutput))
            {
                return fast;
            }

            // ef.dll did not start (a runtime, a path or the tool changed): forget the invocation and ask dotnet ef.
            EfCoreDirect.Forget(directFile);
            direct = null;
            await helper.StopAsync().ConfigureAwait(false);
        }

        var arguments = new List<string> { "ef" };
        arguments.AddRange(command);
        arguments.AddRange(new[] { "--project", project, "--prefix-output" });
        if (!command.Contains("--verbose"))
        {
            // The verbose log names the ef.dll invocation.
            arguments.Add("--verbose");
        }

        if (current)
        {
            arguments.Add("--no-build");
        }

        var run = await RunAsync(dotnet, arguments, cancellation, timeout).ConfigureAwait(false);
        if (direct is null && (current || BuildIsCurrent()) && EfCoreDirect.Parse(run.StandardOutput, command, EfCoreDirect.KeyOf(project, dotnet)) is { } learned)
        {
            direct = learned;
            learned.Save(directFile);
        }

        if (run.ExitCode == 0)
        {
            return run;
        }

        var output = run.CombinedOutput;
        if (output.Contains("dotnet-ef does not exist", StringComparison.Ordinal) || output.Contains("\"dotnet tool restore\"", StringComparison.Ordinal)
            || output.Contains("Could not execute because the specified command or file was not found", StringComparison.Ordinal))
        {
            throw new RollbackException(ErrorIds.DatabaseToolNotInstalled, RollbackErrorKind.ObjectNotFound,
                $"The dotnet-ef tool is not available in {Folder}. Install it there ('dotnet new tool-manifest' and 'dotnet tool install dotnet-ef', or 'dotnet tool restore' where a manifest lists it), or globally; -ToolPath can name the dotnet executable.")
            { TargetName = "dotnet-ef" };
        }

        if (output.Contains("doesn't reference Microsoft.EntityFrameworkCore.Design", StringComparison.Ordinal) || output.Contains("No DbContext was found", StringComparison.Ordinal))
        {
            throw new RollbackException(ErrorIds.DatabaseProjectNotFound, RollbackErrorKind.ObjectNotFound,
                $"{System.IO.Path.GetFileName(project)} is not an EF Core project dotnet ef can work with: {SecretRedactor.Redact(string.Join(" ", EfCoreText.Lines(run.StandardOutput, "error")))}") { TargetName = project };
        }

        if (output.Contains("Build failed", StringComparison.Ordinal))
        {
            throw Failed($"build {System.IO.Path.GetFileName(project)} to {what}", run);
        }

        return run;
    }

    /// <summary>
    /// The helper for the known invocation (started on first use): ef.dll loaded once in one process on the project's
    /// runtime, its Main run per command (0.7 s for the first command here, 0.1 s for each after it, against 0.7-0.8 s
    /// for every ef.dll process). Null when it cannot start (a project runtime older than the helper's .NET 8, ef.dll
    /// not loadable that way): the command then starts ef.dll itself, as before.
    /// </summary>
    private async Task<ToolHelper?> StartHelperAsync(EfCoreDirect known, CancellationToken cancellation)
    {
        var dll = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(typeof(EfCoreTool).Assembly.Location)!, "DeploymentRollback.EfCoreHelper.dll");
        return File.Exists(dll)
            ? (await ToolHelper.StartAsync(dotnet, known.HelperArguments(dll), null, Folder, Request.DeploymentAs<DatabaseTarget>().ToolEnvironment, cancellation).ConfigureAwait(false)).Helper
            : null;
    }

    /// <summary>The project's ef.dll invocation kept by an earlier run, read once per run (null when none is valid).</summary>
    private EfCoreDirect? Direct()
    {
        if (!directLoaded)
        {
            directLoaded = true;
            direct ??= EfCoreDirect.Load(directFile, EfCoreDirect.KeyOf(project, dotnet));
        }

        return direct;
    }

    /// <summary>
    /// True when the project's Debug build is newer than each of its sources (*.cs, the project, props and targets files),
    /// and its packages are restored: then --no-build spares dotnet ef a build on each call (one call takes ~3 s that way;
    /// a build adds ~3-10 s). Otherwise dotnet ef builds (Debug, its default), and the next call finds that build current.
    /// </summary>
    private bool BuildIsCurrent()
    {
        var assemblyName = System.IO.Path.GetFileNameWithoutExtension(project);
        var declared = Regex.Match(File.ReadAllText(project), @"<AssemblyName>\s*([^<$]+?)\s*</AssemblyName>");
        if (declared.Success)
        {
            assemblyName = declared.Groups[1].Value;
        }

        var bin = System.IO.Path.Combine(Folder, "bin", "Debug");
        if (!Directory.Exists(bin) || !File.Exists(System.IO.Path.Combine(Folder, "obj", "project.assets.json")))
        {
            return false;
        }

        var built = Directory.EnumerateFiles(bin, assemblyName + ".dll", SearchOption.AllDirectories).Select(File.GetLastWriteTimeUtc).DefaultIfEmpty(DateTime.MinValue).Max();
        return built > DateTime.MinValue && Sources(Folder).All(source => File.GetLastWriteTimeUtc(source) <= built);
    }

    private static IEnumerable<string> Sources(string folder)
    {
        foreach (var file in Directory.EnumerateFiles(folder).Where(f => SourceExtensions.Contains(System.IO.Path.GetExtension(f), StringComparer.OrdinalIgnoreCase)))
        {
            yield return file;
        }

        foreach (var child in Directory.EnumerateDirectories(folder))
        {
            var name = System.IO.Path.GetFileName(child);
            if (name is "bin" or "obj" or "node_modules" || name.StartsWith('.'))
            {
                continue;
            }

            foreach (var file in Sources(child))
            {
                yield return file;
            }
        }
    }

    /// <summary>The full id of a target (an id, a name, a timestamp, or 0 / zero), or DatabaseMigrationUnknown listing the known ones.</summary>
    private string Resolve(string target, IReadOnlyList<Migration> migrations)
    {
        if (target is "0" || target.Equals("zero", StringComparison.OrdinalIgnoreCase))
        {
            return "0";
        }

        var matches = migrations.Where(m => m.Name == target).ToList();
        if (matches.Count == 0)
        {
            var timestamp = target.Length > 0 && target.All(char.IsAsciiDigit);
            matches = migrations.Where(m => shortNames.GetValueOrDefault(m.Name) == target || (timestamp && m.Name.StartsWith(target + "_", StringComparison.Ordinal))).ToList();
        }

        return matches.Count switch
        {
            1 => matches[0].Name,
            0 => throw new RollbackException(ErrorIds.DatabaseMigrationUnknown, RollbackErrorKind.ObjectNotFound,
                $"The project {System.IO.Path.GetFileName(project)} has no migration '{target}'. Its migrations: {Joined(migrations, "none")}, or 0 (all unapplied).") { TargetName = target },
            _ => throw new RollbackException(ErrorIds.DatabaseMigrationUnknown, RollbackErrorKind.InvalidArgument,
                $"'{target}' names {matches.Count} migrations ({Joined(matches, "")}). Pass the full id.") { TargetName = target },
        };
    }

    private static string Joined(IEnumerable<Migration> migrations, string none)
    {
        var names = string.Join(", ", migrations.Select(m => m.Name));
        return names.Length == 0 ? none : names;
    }

    /// <summary>When the SQLite file holds a row in EF Core's lock table, the time it was taken; else null.</summary>
    private static string? LockedSince(string database) => ReadSqlite(database, connection =>
    {
        using var exists = connection.CreateCommand();
        exists.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '__EFMigrationsLock'";
        if (Convert.ToInt64(exists.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
        {
            return null;
        }

        using var row = connection.CreateCommand();
        row.CommandText = "SELECT \"Timestamp\" FROM \"__EFMigrationsLock\" LIMIT 1";
        using var reader = row.ExecuteReader();
        return reader.Read() ? (reader.IsDBNull(0) ? "at an unknown time" : "at " + reader.GetValue(0)) : null;
    });
}
