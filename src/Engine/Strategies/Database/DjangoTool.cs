using System.Text.Json.Nodes;

namespace DeploymentRollback.Engine.Database;

/// <summary>
/// Django: manage.py showmigrations, migrate &lt;app&gt; &lt;target&gt; --plan, migrate &lt;app&gt; &lt;target&gt;. The commands run in
/// one helper process that runs manage.py and sets Django up once (Helpers/django_helper.py), each given the same argument
/// list as on the command line; where that helper cannot set the project up, each runs as its own manage.py process.
/// </summary>
internal sealed class DjangoTool : MigrationTool
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(5);

    private readonly string python;
    private readonly string app;

    private readonly ToolHelperSlot helper = new();

    public DjangoTool(RollbackRequest request, string folder)
        : base(request, folder)
    {
        if (!File.Exists(System.IO.Path.Combine(folder, "manage.py")))
        {
            throw new RollbackException(ErrorIds.DatabaseProjectNotFound, RollbackErrorKind.ObjectNotFound,
                $"There is no manage.py in {folder}. Pass -Path with the Django project folder.") { TargetName = folder };
        }

        app = request.DeploymentAs<DatabaseTarget>().App ?? throw new RollbackException(ErrorIds.DatabaseTargetMissing, RollbackErrorKind.InvalidArgument,
            "The Django tool needs -App with the app whose migrations are rolled back (as in 'manage.py migrate <app> <migration>').");
        // Debian's Django is seen by /usr/bin/python3; another python3 first on PATH may not see it.
        python = request.DeploymentAs<DatabaseTarget>().ToolPath ?? (File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
    }

    public override string Name => "Django";
    public override string Scope => app;

    protected override async Task<IReadOnlyList<Migration>> ReadListAsync(CancellationToken cancellation)
    {
        var run = await ManageAsync(new[] { "showmigrations", app }, cancellation).ConfigureAwait(false);
        if (run.ExitCode != 0)
        {
            if (run.CombinedOutput.Contains("No installed app with label", StringComparison.Ordinal))
            {
                throw new RollbackException(ErrorIds.DatabaseProjectNotFound, RollbackErrorKind.ObjectNotFound,
                    $"The Django project in {Folder} has no app '{app}'. Check -App (the app label in INSTALLED_APPS).") { TargetName = app };
            }

            throw Failed("list the migrations", run);
        }

        return DjangoText.ShowMigrations(run.StandardOutput);
    }

    public override async Task<DowngradePlan> PlanDowngradeAsync(string target, CancellationToken cancellation)
    {
        var migrations = await ListAsync(cancellation).ConfigureAwait(false);
        var match = target == "zero" ? "zero" : migrations.FirstOrDefault(m => m.Name == target || m.Name.StartsWith(target + "_", StringComparison.Ordinal))?.Name;
        if (match is null)
        {
            throw new RollbackException(ErrorIds.DatabaseMigrationUnknown, RollbackErrorKind.ObjectNotFound,
                $"App '{app}' has no migration '{target}'. Its migrations: {string.Join(", ", migrations.Select(m => m.Name))}, or zero.") { TargetName = target };
        }

        if (match != "zero" && !migrations.First(m => m.Name == match).Applied)
        {
            throw new RollbackException(ErrorIds.DatabaseMigrationUnknown, RollbackErrorKind.InvalidArgument,
                $"Migration {app}.{match} is not applied: going to it would apply migrations, not roll any back. Applied: {string.Join(", ", migrations.Where(m => m.Applied).Select(m => m.Name))}.") { TargetName = target };
        }

        var run = await ManageAsync(new[] { "migrate", app, match, "--plan" }, cancellation).ConfigureAwait(false);
        if (run.ExitCode != 0)
        {
            throw Failed("plan the rollback", run);
        }

        var (unapply, irreversible) = DjangoText.Plan(run.StandardOutput, app);
        return new DowngradePlan(unapply, irreversible, match);
    }

    public override async Task<ProcessRunResult> DowngradeAsync(string target, CancellationToken cancellation)
    {
        Changed();
        return await ManageAsync(new[] { "migrate", app, target, "--no-input" }, cancellation, TimeSpan.FromMinutes(30)).ConfigureAwait(false);
    }

    public override async Task<string?> SqliteFileAsync(CancellationToken cancellation)
    {
        string engine, name;
        if (await HelperAsync(cancellation).ConfigureAwait(false) is { } running)
        {
            var (answer, _) = await running.CallAsync(new JsonObject { ["database"] = "default" }, CommandTimeout, cancellation).ConfigureAwait(false);
            if (answer?["exit"]?.GetValue<int>() != 0)
            {
                return null;
            }

            (engine, name) = (answer["engine"]?.GetValue<string>() ?? "", answer["name"]?.GetValue<string>() ?? "");
        }
        else
        {
            var run = await RunAsync(python, new[] { "manage.py", "shell", "-c", "from django.conf import settings; d = settings.DATABASES['default']; print(d['ENGINE']); print(d['NAME'])" }, cancellation).ConfigureAwait(false);
            var lines = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (run.ExitCode != 0 || lines.Length < 2)
            {
                return null;
            }

            (engine, name) = (lines[0], lines[1]);
        }

        return engine.EndsWith("sqlite3", StringComparison.Ordinal) && name.Length > 0 ? System.IO.Path.GetFullPath(name, Folder) : null;
    }

    public override void Start(CancellationToken cancellation) => _ = helper.StartOnce(() => StartHelperAsync(cancellation));

    public override ValueTask DisposeAsync() => helper.StopAsync();

    /// <summary>A manage.py command with its argument list: through the helper while it runs, else as its own process.</summary>
    private async Task<ProcessRunResult> ManageAsync(string[] arguments, CancellationToken cancellation, TimeSpan? timeout = null)
    {
        if (await HelperAsync(cancellation).ConfigureAwait(false) is { } running)
        {
            return await running.RunAsync(new JsonObject { ["command"] = new JsonArray(arguments.Select(a => (JsonNode?)a).ToArray()) }, timeout ?? CommandTimeout, cancellation).ConfigureAwait(false);
        }

        return await RunAsync(python, new[] { "manage.py" }.Concat(arguments), cancellation, timeout).ConfigureAwait(false);
    }

    /// <summary>The helper, started on first use; null when it cannot serve this project or has ended (a crash mid-run).</summary>
    private Task<ToolHelper?> HelperAsync(CancellationToken cancellation) => helper.RunningAsync(() => StartHelperAsync(cancellation));

    private async Task<ToolHelper?> StartHelperAsync(CancellationToken cancellation) =>
        (await ToolHelper.StartAsync(python, new[] { "-c" }, "django_helper.py", Folder, Request.DeploymentAs<DatabaseTarget>().ToolEnvironment, cancellation).ConfigureAwait(false)).Helper;
}
