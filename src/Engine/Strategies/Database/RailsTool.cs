using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine.Database;

/// <summary>
/// Rails (Active Record): bin/rails db:migrate:status to list, the migration files under db/migrate read to plan,
/// bin/rails db:migrate VERSION=&lt;target&gt; to go down. Run in the project folder; RAILS_ENV comes from -ToolEnvironment
/// (or the environment the module runs in). bin/rails is started through ruby, so it need not be executable; without
/// bin/rails, "bundle exec rails" is used; -ToolPath names another rails executable (given the same task arguments).
/// The migration names are the versions (timestamps), as Rails' own VERSION= takes them; "0" (or zero) is before the first.
/// The tasks run in one helper process ("rails runner" with Helpers/rails_helper.rb: the application boots once), each
/// given the same argument list as on the command line; where the application cannot boot that way, each runs as its
/// own rails process.
/// </summary>
internal sealed partial class RailsTool : MigrationTool
{
    private const string Zero = "0";

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(5);

    private readonly string executable;
    private readonly IReadOnlyList<string> prefix;

    private readonly ToolHelperSlot helper = new();

    public RailsTool(RollbackRequest request, string folder)
        : base(request, folder)
    {
        var binRails = System.IO.Path.Combine(folder, "bin", "rails");
        if (request.DeploymentAs<DatabaseTarget>().ToolPath is { } toolPath)
        {
            executable = toolPath;
            prefix = Array.Empty<string>();
        }
        else if (File.Exists(binRails))
        {
            // Debian's ruby is the one that sees Debian's Rails gems; another ruby first on PATH may not.
            executable = File.Exists("/usr/bin/ruby") ? "/usr/bin/ruby" : "ruby";
            prefix = new[] { System.IO.Path.Combine("bin", "rails") };
        }
        else if (File.Exists(System.IO.Path.Combine(folder, "Gemfile")))
        {
            executable = File.Exists("/usr/bin/bundle") ? "/usr/bin/bundle" : "bundle";
            prefix = new[] { "exec", "rails" };
        }
        else
        {
            throw new RollbackException(ErrorIds.DatabaseProjectNotFound, RollbackErrorKind.ObjectNotFound,
                $"There is no bin/rails or Gemfile in {folder}. Pass -Path with the Rails application's folder.") { TargetName = folder };
        }
    }

    public override string Name => "Rails";

    [GeneratedRegex(@"^(?<version>\d+)_\w+\.rb$")]
    private static partial Regex MigrationFile();

    protected override async Task<IReadOnlyList<Migration>> ReadListAsync(CancellationToken cancellation)
    {
        var run = await RailsAsync(new[] { "db:migrate:status" }, cancellation).ConfigureAwait(false);
        if (run.ExitCode != 0)
        {
            // A database never migrated has no schema_migrations table: every migration file is pending.
            if (run.CombinedOutput.Contains("Schema migrations table does not exist yet", StringComparison.Ordinal))
            {
                return Files().Keys.Order(StringComparer.Ordinal).Select(v => new Migration(v, false)).ToList();
            }

            throw Failed("list the migrations", run);
        }

        return RailsText.MigrateStatus(run.StandardOutput);
    }

    public override async Task<DowngradePlan> PlanDowngradeAsync(string target, CancellationToken cancellation)
    {
        var migrations = await ListAsync(cancellation).ConfigureAwait(false);
        var version = Resolve(target, migrations);
        var index = version == Zero ? -1 : migrations.ToList().FindIndex(m => m.Name == version);
        if (index >= 0 && !migrations[index].Applied)
        {
            throw new RollbackException(ErrorIds.DatabaseMigrationUnknown, RollbackErrorKind.InvalidArgument,
                $"Rails migration {version} is not applied: going to it would upgrade the database (apply migrations), not roll any back. " +
                $"Applied: {(migrations.Any(m => m.Applied) ? string.Join(", ", migrations.Where(m => m.Applied).Select(m => m.Name)) : "none")}.") { TargetName = target };
        }

        // What db:migrate VERSION=<target> does going down: every applied migration above the target, newest first.
        var unapply = migrations.Skip(index + 1).Where(m => m.Applied).Select(m => m.Name).Reverse().ToList();
        var files = Files();
        var irreversible = unapply.Where(v => !files.TryGetValue(v, out var file) || RailsText.Irreversible(File.ReadAllText(file))).ToList();
        return new DowngradePlan(unapply, irreversible, version);
    }

    public override async Task<ProcessRunResult> DowngradeAsync(string target, CancellationToken cancellation)
    {
        // Only the version the plan checked (digits), as one argument element: never the raw text.
        var migrations = await ListAsync(cancellation).ConfigureAwait(false);
        var version = Resolve(target, migrations);
        Changed();
        return await RailsAsync(new[] { "db:migrate", "VERSION=" + version }, cancellation, TimeSpan.FromMinutes(30)).ConfigureAwait(false);
    }

    public override async Task<string?> SqliteFileAsync(CancellationToken cancellation)
    {
        // Rails itself says which database it uses (database.yml for RAILS_ENV, ERB and DATABASE_URL applied); the
        // runner only reads the configuration, it does not connect. When the run fails, nothing is copied.
        string adapter, path;
        if (await HelperAsync(cancellation).ConfigureAwait(false) is { } running)
        {
            var (answer, _) = await running.CallAsync(new JsonObject { ["database"] = true }, CommandTimeout, cancellation).ConfigureAwait(false);
            if (answer?["exit"]?.GetValue<int>() != 0)
            {
                return null;
            }

            (adapter, path) = (answer["adapter"]?.GetValue<string>() ?? "", (answer["database"]?.GetValue<string>() ?? "").Trim());
        }
        else
        {
            var run = await RunAsync(executable, Args("runner", "c = ActiveRecord::Base.connection_db_config; puts c.adapter; puts c.database"), cancellation).ConfigureAwait(false);
            var lines = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (run.ExitCode != 0 || lines.Length < 2)
            {
                return null;
            }

            (adapter, path) = (lines[^2], lines[^1]);
        }

        if (!adapter.StartsWith("sqlite3", StringComparison.Ordinal))
        {
            return null;
        }

        return path.Length == 0 || path == ":memory:" || path.StartsWith("file:", StringComparison.Ordinal) ? null : System.IO.Path.GetFullPath(path, Folder);
    }

    private IEnumerable<string> Args(params string[] arguments) => prefix.Concat(arguments);

    public override void Start(CancellationToken cancellation) => _ = helper.StartOnce(() => StartHelperAsync(cancellation));

    public override ValueTask DisposeAsync() => helper.StopAsync();

    /// <summary>A rails task with its argument list: through the helper while it runs, else as its own process.</summary>
    private async Task<ProcessRunResult> RailsAsync(string[] arguments, CancellationToken cancellation, TimeSpan? timeout = null)
    {
        if (await HelperAsync(cancellation).ConfigureAwait(false) is { } running)
        {
            return await running.RunAsync(new JsonObject { ["command"] = new JsonArray(arguments.Select(a => (JsonNode?)a).ToArray()) }, timeout ?? CommandTimeout, cancellation).ConfigureAwait(false);
        }

        return await RunAsync(executable, Args(arguments), cancellation, timeout).ConfigureAwait(false);
    }

    /// <summary>The helper, started on first use; null when the application cannot boot that way or it has ended (a crash mid-run).</summary>
    private Task<ToolHelper?> HelperAsync(CancellationToken cancellation) => helper.RunningAsync(() => StartHelperAsync(cancellation));

    private async Task<ToolHelper?> StartHelperAsync(CancellationToken cancellation) =>
        (await ToolHelper.StartAsync(executable, Args("runner"), "rails_helper.rb", Folder, Request.DeploymentAs<DatabaseTarget>().ToolEnvironment, cancellation).ConfigureAwait(false)).Helper;

    /// <summary>The target as a known version (or "0"): digits only, and one that db:migrate:status lists.</summary>
    private string Resolve(string target, IReadOnlyList<Migration> migrations)
    {
        if (target == Zero || string.Equals(target, "zero", StringComparison.OrdinalIgnoreCase))
        {
            return Zero;
        }

        if (target.Length > 0 && target.All(char.IsAsciiDigit) && migrations.Any(m => m.Name == target))
        {
            return target;
        }

        throw new RollbackException(ErrorIds.DatabaseMigrationUnknown, RollbackErrorKind.ObjectNotFound,
            $"The Rails application in {Folder} has no migration '{target}'. Its migrations (versions), oldest first: {(migrations.Count == 0 ? "none" : string.Join(", ", migrations.Select(m => m.Name)))}; or 0.") { TargetName = target };
    }

    /// <summary>The migration files under db/migrate, by version.</summary>
    private Dictionary<string, string> Files()
    {
        var folder = System.IO.Path.Combine(Folder, "db", "migrate");
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        if (Directory.Exists(folder))
        {
            foreach (var file in Directory.EnumerateFiles(folder, "*.rb"))
            {
                if (MigrationFile().Match(System.IO.Path.GetFileName(file)) is { Success: true } match)
                {
                    files[match.Groups["version"].Value] = file;
                }
            }
        }

        return files;
    }
}
