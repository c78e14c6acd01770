using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine.Database;

/// <summary>
/// Rails (Active Record): bin/rails db:migrate:status to list, the migration files under db/migrate read to plan,
/// bin/rails db:migrate VERSION=&lt;target&gt; to go down. Run in the project folder; RAILS_ENV comes from -ToolEnvironment
/// (or the environment the module runs in). bin/rails is started through ruby, so it need not be executable; without
/// bin/rails, "bundle exec rails" is used; -ToolPath names another rails executable (given the same task arguments).
/// The migration names are the versions (timestamps), as Rails' own VERSION= takes them; "0" (or zero) is before the first.
/// </summary>
internal sealed partial class RailsTool : MigrationTool
{
    private const string Zero = "0";

    private readonly string executable;
    private readonly IReadOnlyList<string> prefix;

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

    // "db:migrate:status" prints a header, then one line per migration, oldest first:
    //    up     20240101000000  Create orders
    //   down    20240103000000  Backfill notes
    //    up     20231201000000  ********** NO FILE **********     (applied, but its file is gone)
    [GeneratedRegex(@"^\s*(?<status>up|down)\s+(?<version>\d+)\s+(?<name>.*?)\s*$")]
    private static partial Regex StatusLine();

    [GeneratedRegex(@"^(?<version>\d+)_\w+\.rb$")]
    private static partial Regex MigrationFile();

    [GeneratedRegex(@"^(?<indent>\s*)def\s+(self\.)?(?<name>up|down|change)\b")]
    private static partial Regex MethodStart();

    [GeneratedRegex(@"\braise\s+(::)?(ActiveRecord::)?IrreversibleMigration\b")]
    private static partial Regex RaisesIrreversible();

    // Operations a change method cannot revert by itself (see Irreversible): execute and change_column, not
    // change_column_default/change_column_null/change_column_comment (the (?!_) after the word).
    [GeneratedRegex(@"^\s*(?:execute|change_column)\b(?!_)")]
    private static partial Regex IrreversibleOperation();

    [GeneratedRegex(@"^\s*change_column_default\b(?!.*\bto:)")]
    private static partial Regex DefaultWithoutTo();

    [GeneratedRegex(@"^\s*remove_column\s+[^,]+,\s*[^,]+\s*$")]
    private static partial Regex RemoveColumnWithoutType();

    // A block that says what to do either way (or only on the way up): its lines are not the recorder's to revert.
    [GeneratedRegex(@"^\s*(?:reversible|up_only)\b.*\bdo\b")]
    private static partial Regex ReversibleBlock();

    protected override async Task<IReadOnlyList<Migration>> ReadListAsync(CancellationToken cancellation)
    {
        var run = await RunAsync(executable, Args("db:migrate:status"), cancellation).ConfigureAwait(false);
        if (run.ExitCode != 0)
        {
            // A database never migrated has no schema_migrations table: every migration file is pending.
            if (run.CombinedOutput.Contains("Schema migrations table does not exist yet", StringComparison.Ordinal))
            {
                return Files().Keys.Order(StringComparer.Ordinal).Select(v => new Migration(v, false)).ToList();
            }

            throw Failed("list the migrations", run);
        }

        return run.StandardOutput.Split('\n').Select(l => StatusLine().Match(l)).Where(m => m.Success)
            .Select(m => new Migration(m.Groups["version"].Value, m.Groups["status"].Value == "up")).ToList();
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
        var irreversible = unapply.Where(v => !files.TryGetValue(v, out var file) || Irreversible(File.ReadAllText(file))).ToList();
        return new DowngradePlan(unapply, irreversible, version);
    }

    public override async Task<ProcessRunResult> DowngradeAsync(string target, CancellationToken cancellation)
    {
        // Only the version the plan checked (digits), as one argument element: never the raw text.
        var migrations = await ListAsync(cancellation).ConfigureAwait(false);
        var version = Resolve(target, migrations);
        Changed();
        return await RunAsync(executable, Args("db:migrate", "VERSION=" + version), cancellation, TimeSpan.FromMinutes(30)).ConfigureAwait(false);
    }

    public override async Task<string?> SqliteFileAsync(CancellationToken cancellation)
    {
        // Rails itself says which database it uses (database.yml for RAILS_ENV, ERB and DATABASE_URL applied); the
        // runner only reads the configuration, it does not connect. When the run fails, nothing is copied.
        var run = await RunAsync(executable, Args("runner", "c = ActiveRecord::Base.connection_db_config; puts c.adapter; puts c.database"), cancellation).ConfigureAwait(false);
        var lines = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (run.ExitCode != 0 || lines.Length < 2 || !lines[^2].StartsWith("sqlite3", StringComparison.Ordinal))
        {
            return null;
        }

        var path = lines[^1];
        return path.Length == 0 || path == ":memory:" || path.StartsWith("file:", StringComparison.Ordinal) ? null : System.IO.Path.GetFullPath(path, Folder);
    }

    private IEnumerable<string> Args(params string[] arguments) => prefix.Concat(arguments);

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

    /// <summary>
    /// Whether a migration's source says it cannot be unapplied, read before anything runs (Rails has no dry run for a
    /// rollback). A migration with up/down is irreversible when its down raises ActiveRecord::IrreversibleMigration, or
    /// when it has an up that does something but no down (Rails would then record it unapplied having undone nothing).
    /// A migration with change is reverted by Rails' CommandRecorder, which raises IrreversibleMigration for operations
    /// it cannot invert: here execute (raw SQL), change_column (the old type is not known), change_column_default without
    /// to:, and remove_column without its type, unless they sit in a reversible/up_only block, which says what to do
    /// on the way down; and a raise of IrreversibleMigration anywhere in change. The methods are found by indentation
    /// (a "def" and the "end" at the same indentation), as conventionally formatted migrations are written; anything
    /// else the recorder refuses is still caught when the rollback runs (it stops there, and is escalated).
    /// </summary>
    private static bool Irreversible(string source)
    {
        var methods = Methods(source);
        if (methods.TryGetValue("down", out var down))
        {
            return down.Any(l => RaisesIrreversible().IsMatch(l));
        }

        if (methods.TryGetValue("up", out var up))
        {
            return up.Count > 0;
        }

        if (!methods.TryGetValue("change", out var change))
        {
            return false;
        }

        var depth = 0;
        foreach (var line in change)
        {
            if (depth > 0)
            {
                depth += Opens(line) - (Regex.IsMatch(line, @"^\s*end\b") ? 1 : 0);
                continue;
            }

            if (ReversibleBlock().IsMatch(line))
            {
                depth = 1;
                continue;
            }

            if (RaisesIrreversible().IsMatch(line) || IrreversibleOperation().IsMatch(line) || DefaultWithoutTo().IsMatch(line) || RemoveColumnWithoutType().IsMatch(line))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>How many blocks a line opens ("do", or an if/unless/case/begin/while statement), for skipping a block.</summary>
    private static int Opens(string line) =>
        Regex.IsMatch(line, @"\bdo\b(\s*\|[^|]*\|)?\s*$") || Regex.IsMatch(line, @"^\s*(?:if|unless|case|begin|while|until|def)\b") ? 1 : 0;

    /// <summary>The bodies (without comments and blank lines) of the up, down and change methods in a migration's source.</summary>
    private static Dictionary<string, List<string>> Methods(string source)
    {
        var methods = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        List<string>? body = null;
        var indent = "";
        foreach (var raw in source.Replace("\r", "", StringComparison.Ordinal).Split('\n'))
        {
            var line = raw.TrimStart().StartsWith('#') ? "" : raw;
            if (body is null)
            {
                if (MethodStart().Match(line) is { Success: true } start)
                {
                    indent = start.Groups["indent"].Value;
                    body = new List<string>();
                    methods[start.Groups["name"].Value] = body;
                    // A one-line method: "def down; raise ActiveRecord::IrreversibleMigration; end".
                    var rest = line[start.Length..];
                    if (Regex.IsMatch(rest, @";\s*end\s*$"))
                    {
                        body.Add(Regex.Replace(rest, @"^\s*;|;\s*end\s*$", "").Trim());
                        body.RemoveAll(l => l.Length == 0);
                        body = null;
                    }
                }
            }
            else if (line == indent + "end" || line.TrimEnd() == indent + "end")
            {
                body = null;
            }
            else if (line.Trim().Length > 0)
            {
                body.Add(line);
            }
        }

        return methods;
    }
}
