using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine.Database;

/// <summary>
/// Alembic: alembic history --verbose and alembic current, downgrade &lt;current&gt;:&lt;target&gt; --sql to plan, downgrade &lt;target&gt;.
/// Always run with -c &lt;folder&gt;/alembic.ini in the project folder. Only a linear history (one base, one head, no merge
/// or branch points) is supported. The commands run in one helper process (Helpers/alembic_helper.py) under the
/// interpreter the alembic command names on its #! line, each given the same argument list as on the command line; where
/// there is no such interpreter or it cannot import alembic, each runs as its own alembic process.
/// </summary>
internal sealed partial class AlembicTool : MigrationTool
{

    private const string Base = "base";

    private readonly string alembic;
    private readonly string config;

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(5);

    // The revision scripts do not change during one invocation (the applied state does: the base class keeps that list).
    private IReadOnlyList<AlembicRevision>? history;

    private readonly ToolHelperSlot helper = new();

    public AlembicTool(RollbackRequest request, string folder)
        : base(request, folder)
    {
        config = System.IO.Path.Combine(folder, "alembic.ini");
        if (!File.Exists(config))
        {
            throw new RollbackException(ErrorIds.DatabaseProjectNotFound, RollbackErrorKind.ObjectNotFound,
                $"There is no alembic.ini in {folder}. Pass -Path with the folder of the Alembic project (where 'alembic' is run).") { TargetName = folder };
        }

        alembic = request.DeploymentAs<DatabaseTarget>().ToolPath ?? "alembic";
    }

    public override string Name => "Alembic";

    // The exception that ended a Python traceback: "NotImplementedError: ..." (the last such line on stderr).
    [GeneratedRegex(@"^(?:[A-Za-z_]\w*\.)*(?<type>[A-Za-z_]\w*(?:Error|Exception))(?::|\s*$)", RegexOptions.Multiline)]
    private static partial Regex ExceptionLine();

    [GeneratedRegex(@"^Current revision\(s\) for (?<url>.+):\s*$", RegexOptions.Multiline)]
    private static partial Regex CurrentUrlLine();

    [GeneratedRegex(@"^sqlite(?:\+\w+)?:///(?<path>[^?]*)", RegexOptions.IgnoreCase)]
    private static partial Regex SqliteUrl();

    protected override async Task<IReadOnlyList<Migration>> ReadListAsync(CancellationToken cancellation)
    {
        var (chain, current) = await LoadAsync(cancellation).ConfigureAwait(false);
        return chain.Select((r, i) => new Migration(r.Id, i <= current)).ToList();
    }

    public override async Task<DowngradePlan> PlanDowngradeAsync(string target, CancellationToken cancellation)
    {
        var migrations = await ListAsync(cancellation).ConfigureAwait(false);
        var chain = await HistoryAsync(cancellation).ConfigureAwait(false);
        var current = migrations.Count(m => m.Applied) - 1;
        var index = Resolve(target, chain);
        if (index > current)
        {
            throw new RollbackException(ErrorIds.DatabaseMigrationUnknown, RollbackErrorKind.InvalidArgument,
                $"Alembic revision {chain[index].Id} is not applied (the database is at {(current < 0 ? Base : chain[current].Id)}): going to it would upgrade the database, not roll it back. " +
                $"Applied: {(current < 0 ? "none" : string.Join(", ", chain.Take(current + 1).Select(r => r.Id)))}.") { TargetName = target };
        }

        var unapply = chain.Skip(index + 1).Take(current - index).Reverse().ToList();
        if (unapply.Count == 0)
        {
            return new DowngradePlan(Array.Empty<string>(), Array.Empty<string>(), index < 0 ? Base : chain[index].Id);
        }

        var irreversible = await IrreversibleAsync(unapply, index < 0 ? Base : chain[index].Id, cancellation).ConfigureAwait(false);
        return new DowngradePlan(unapply.Select(r => r.Id).ToList(), irreversible, index < 0 ? Base : chain[index].Id);
    }

    public override async Task<ProcessRunResult> DowngradeAsync(string target, CancellationToken cancellation)
    {
        // The full revision id (or base) that the plan checked, never the raw text: alembic would also take "-1" or "heads".
        var chain = await HistoryAsync(cancellation).ConfigureAwait(false);
        var index = Resolve(target, chain);
        Changed();
        return await AlembicAsync(Arguments("downgrade", index < 0 ? Base : chain[index].Id), cancellation, TimeSpan.FromMinutes(30)).ConfigureAwait(false);
    }

    public override async Task<string?> SqliteFileAsync(CancellationToken cancellation)
    {
        // "alembic current --verbose" prints "Current revision(s) for <url>:" with the URL env.py really connected with
        // (DATABASE_URL or the like applied, password masked); alembic.ini's sqlalchemy.url only when that line is missing.
        // When the run fails, which database env.py would use is unknown: nothing is copied.
        var run = await AlembicAsync(Arguments("current", "--verbose"), cancellation).ConfigureAwait(false);
        if (run.ExitCode != 0)
        {
            return null;
        }

        var url = CurrentUrlLine().Match(run.StandardOutput) is { Success: true } line ? line.Groups["url"].Value.Trim() : IniUrl();
        if (url is null || SqliteUrl().Match(url) is not { Success: true } sqlite)
        {
            return null;
        }

        var path = sqlite.Groups["path"].Value;
        return path.Length == 0 || path == ":memory:" || path.StartsWith("file:", StringComparison.Ordinal) ? null : System.IO.Path.GetFullPath(path, Folder);
    }

    private string[] Arguments(params string[] command) => new[] { "-c", config }.Concat(command).ToArray();

    /// <summary>An alembic command with its argument list: through the helper while it runs, else as its own process.</summary>
    private async Task<ProcessRunResult> AlembicAsync(string[] arguments, CancellationToken cancellation, TimeSpan? timeout = null)
    {
        if (await helper.RunningAsync(() => StartHelperAsync(cancellation)).ConfigureAwait(false) is { } running)
        {
            return await running.RunAsync(new JsonObject { ["command"] = new JsonArray(arguments.Select(a => (JsonNode?)a).ToArray()) }, timeout ?? CommandTimeout, cancellation).ConfigureAwait(false);
        }

        return await RunAsync(alembic, arguments, cancellation, timeout).ConfigureAwait(false);
    }

    private async Task<ToolHelper?> StartHelperAsync(CancellationToken cancellation) =>
        ToolHelper.PythonInterpreter(alembic) is { } python
            ? (await ToolHelper.StartAsync(python, new[] { "-c" }, "alembic_helper.py", Folder, Request.DeploymentAs<DatabaseTarget>().ToolEnvironment, cancellation).ConfigureAwait(false)).Helper
            : null;

    public override void Start(CancellationToken cancellation) => _ = helper.StartOnce(() => StartHelperAsync(cancellation));

    public override ValueTask DisposeAsync() => helper.StopAsync();

    /// <summary>The linear chain of revisions, oldest first, and the index of the applied head (-1: none applied).</summary>
    private async Task<(IReadOnlyList<AlembicRevision> Chain, int Current)> LoadAsync(CancellationToken cancellation)
    {
        // Both at once: each alembic start takes about half a second.
        var revisions = HistoryAsync(cancellation);
        var currentRun = AlembicAsync(Arguments("current"), cancellation);
        await Task.WhenAll(revisions, currentRun).ConfigureAwait(false);
        var chain = await revisions.ConfigureAwait(false);
        var run = await currentRun.ConfigureAwait(false);
        if (run.ExitCode != 0)
        {
            throw Failed("read the current revision", run);
        }

        // One "0002" or "0003 (head)" line per applied head; anything else env.py prints is ignored.
        var known = chain.Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
        var heads = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split(' ')[0]).Where(known.Contains).Distinct().ToList();
        if (heads.Count > 1)
        {
            throw Unsupported($"the database has {heads.Count} applied heads: {string.Join(", ", heads)}");
        }

        var current = heads.Count == 0 ? -1 : chain.ToList().FindIndex(r => r.Id == heads[0]);
        return (chain, current);
    }

    private async Task<IReadOnlyList<AlembicRevision>> HistoryAsync(CancellationToken cancellation) => history ??= await ReadHistoryAsync(cancellation).ConfigureAwait(false);

    private async Task<IReadOnlyList<AlembicRevision>> ReadHistoryAsync(CancellationToken cancellation)
    {
        var run = await AlembicAsync(Arguments("history", "--verbose"), cancellation).ConfigureAwait(false);
        if (run.ExitCode != 0)
        {
            throw Failed("list the revisions", run);
        }

        var (revisions, nonLinear) = AlembicText.History(run.StandardOutput);
        if (nonLinear.Count > 0)
        {
            throw Unsupported(string.Join("; ", nonLinear));
        }

        // Oldest first: from the one revision without a parent, each revision's only child.
        var roots = revisions.Where(r => r.Parent is null).ToList();
        if (revisions.Count > 0 && roots.Count != 1)
        {
            throw Unsupported($"{roots.Count} revisions have no parent ({string.Join(", ", roots.Select(r => r.Id))})");
        }

        var children = revisions.Where(r => r.Parent is not null).ToLookup(r => r.Parent!, StringComparer.Ordinal);
        var chain = new List<AlembicRevision>();
        for (var next = roots.FirstOrDefault(); next is not null; next = children[next.Id].FirstOrDefault())
        {
            if (children[next.Id].Count() > 1)
            {
                throw Unsupported($"{next.Id} has {children[next.Id].Count()} children");
            }

            chain.Add(next);
        }

        if (chain.Count != revisions.Count)
        {
            throw Unsupported($"{string.Join(", ", revisions.Except(chain).Select(r => r.Id))} are not on the chain from {roots[0].Id}");
        }

        return chain;
    }

    /// <summary>The index of target in chain (-1 for base); the exact revision id or a unique prefix, as alembic takes them.</summary>
    private int Resolve(string target, IReadOnlyList<AlembicRevision> chain)
    {
        if (string.Equals(target, Base, StringComparison.OrdinalIgnoreCase) || string.Equals(target, "zero", StringComparison.OrdinalIgnoreCase))
        {
            return -1;
        }

        var exact = chain.Select((r, i) => (r, i)).FirstOrDefault(p => p.r.Id == target);
        if (exact.r is not null)
        {
            return exact.i;
        }

        var matches = target.Length == 0 ? new List<int>() : chain.Select((r, i) => (r, i)).Where(p => p.r.Id.StartsWith(target, StringComparison.Ordinal)).Select(p => p.i).ToList();
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new RollbackException(ErrorIds.DatabaseMigrationUnknown, RollbackErrorKind.ObjectNotFound,
                $"The Alembic project in {Folder} has no revision '{target}'. Its revisions, oldest first: {(chain.Count == 0 ? "none" : string.Join(", ", chain.Select(r => r.Id)))}; or base.") { TargetName = target },
            _ => throw new RollbackException(ErrorIds.DatabaseMigrationUnknown, RollbackErrorKind.InvalidArgument,
                $"'{target}' is the start of more than one Alembic revision ({string.Join(", ", matches.Select(i => chain[i].Id))}): give more of the revision id.") { TargetName = target },
        };
    }

    /// <summary>
    /// The revisions of unapply (newest first) whose downgrade cannot undo them, found before anything runs.
    /// Alembic itself runs each downgrade() in offline mode ("alembic downgrade &lt;from&gt;:&lt;target&gt; --sql"), which
    /// prints the SQL it would execute: a revision whose section holds nothing but alembic's version bookkeeping has an
    /// empty downgrade ("pass"), and is irreversible unless its upgrade() is empty too; one that raises NotImplementedError
    /// stops the run inside its section. Offline mode cannot render everything (SQLite batch operations need a live
    /// connection, as does an env.py without an offline branch): for a revision it stopped on for another reason, the
    /// script's downgrade() body is read instead (empty, or a "raise" at its top level, is irreversible), and the offline
    /// run goes on from the revision below it.
    /// </summary>
    private async Task<IReadOnlyList<string>> IrreversibleAsync(IReadOnlyList<AlembicRevision> unapply, string target, CancellationToken cancellation)
    {
        var irreversible = new List<string>();
        var next = 0;
        while (next < unapply.Count)
        {
            var run = await AlembicAsync(Arguments("downgrade", $"{unapply[next].Id}:{target}", "--sql"), cancellation).ConfigureAwait(false);
            var sections = AlembicText.OfflineSections(run.StandardOutput);
            var stopped = -1;
            var seen = new HashSet<int>();
            for (var s = 0; s < sections.Count; s++)
            {
                var index = IndexOf(unapply, sections[s].Revision, next);
                if (index < 0)
                {
                    continue;
                }

                seen.Add(index);

                if (run.ExitCode != 0 && s == sections.Count - 1)
                {
                    stopped = index;
                    break;
                }

                if (!sections[s].Substantive && !(Function(unapply[index], "upgrade") is { Found: true, Empty: true }))
                {
                    irreversible.Add(unapply[index].Id);
                }
            }

            if (run.ExitCode == 0)
            {
                // Revisions the offline run did not show (an env.py whose offline branch runs nothing): read their scripts.
                irreversible.AddRange(unapply.Skip(next).Where((r, i) => !seen.Contains(next + i) && ScriptIrreversible(r)).Select(r => r.Id));
                break;
            }

            if (stopped < 0)
            {
                // Stopped before the first revision (env.py cannot run offline): read the remaining scripts.
                irreversible.AddRange(unapply.Skip(next).Where(ScriptIrreversible).Select(r => r.Id));
                break;
            }

            var exception = ExceptionLine().Matches(run.StandardError).LastOrDefault()?.Groups["type"].Value;
            if (exception == "NotImplementedError" || ScriptIrreversible(unapply[stopped]))
            {
                irreversible.Add(unapply[stopped].Id);
            }

            next = stopped + 1;
        }

        return unapply.Where(r => irreversible.Contains(r.Id)).Select(r => r.Id).ToList();
    }

    /// <summary>The script's downgrade() is empty (and its upgrade() is not) or raises at its top level.</summary>
    private static bool ScriptIrreversible(AlembicRevision revision) =>
        Function(revision, "downgrade") is { Found: true } downgrade && (downgrade.Raises || (downgrade.Empty && !(Function(revision, "upgrade") is { Found: true, Empty: true })));

    private static int IndexOf(IReadOnlyList<AlembicRevision> revisions, string id, int from)
    {
        for (var i = from; i < revisions.Count; i++)
        {
            if (revisions[i].Id == id)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>A top-level function of a revision's script (see AlembicText.Function); not Found when the script cannot be read.</summary>
    private static (bool Found, bool Empty, bool Raises) Function(AlembicRevision revision, string name)
    {
        try
        {
            return revision.Path is not null && File.Exists(revision.Path) ? AlembicText.Function(File.ReadAllText(revision.Path), name) : (false, false, false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (false, false, false);
        }
    }

    /// <summary>alembic.ini's sqlalchemy.url in the [alembic] section, with %(here)s expanded; null when absent.</summary>
    private string? IniUrl()
    {
        string? section = null;
        foreach (var raw in File.ReadLines(config))
        {
            var line = raw.Trim();
            if (line.StartsWith('[') && line.EndsWith(']'))
            {
                section = line[1..^1].Trim();
            }
            else if (section == "alembic" && Regex.Match(line, @"^sqlalchemy\.url\s*[=:]\s*(?<url>.*)$") is { Success: true } match)
            {
                var url = match.Groups["url"].Value.Trim().Replace("%(here)s", Folder, StringComparison.Ordinal).Replace("%%", "%", StringComparison.Ordinal);
                return url.Length == 0 ? null : url;
            }
        }

        return null;
    }

    private RollbackException Unsupported(string why) => new(ErrorIds.DatabaseToolFailed, RollbackErrorKind.NotImplemented,
        $"The Alembic history in {Folder} is not a single line of revisions ({why}). Only a linear history is supported: downgrade by hand with 'alembic downgrade <revision>'.")
    { TargetName = Folder };
}
