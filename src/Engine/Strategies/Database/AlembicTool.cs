using System.Text;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine.Database;

/// <summary>
/// Alembic: alembic history --verbose and alembic current, downgrade &lt;current&gt;:&lt;target&gt; --sql to plan, downgrade &lt;target&gt;.
/// Always run with -c &lt;folder&gt;/alembic.ini in the project folder. Only a linear history (one base, one head, no merge
/// or branch points) is supported.
/// </summary>
internal sealed partial class AlembicTool : MigrationTool
{

    private const string Base = "base";

    private readonly string alembic;
    private readonly string config;

    // The revision scripts do not change during one invocation (the applied state does: the base class keeps that list).
    private IReadOnlyList<Revision>? history;

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

    /// <summary>One revision script: its id, its parent (null for the first one) and the script's path.</summary>
    private sealed record Revision(string Id, string? Parent, string? Path);

    // "alembic history --verbose" prints one record per revision, newest first:
    //   Rev: 0003 (head)                      also (branchpoint), (mergepoint); (current) only with --indicate-current
    //   Parent: 0002                          "<base>" for the first; "Merges: a, b" instead at a merge point
    //   Branches into: x, y                   at a branch point
    //   Path: /app/migrations/versions/0003_backfill_notes.py
    //   (blank line, then the docstring, every line indented by four spaces)
    // The records cannot be confused with the docstrings (the concise "<down> -> <rev> (head), doc" lines can), and they
    // give each script's path. --indicate-current is not used: it runs the migration context, which creates an empty
    // alembic_version table in a fresh database; "alembic current" never writes.
    [GeneratedRegex(@"^Rev: (?<rev>\S+)(?<flags>.*)$")]
    private static partial Regex RevLine();

    [GeneratedRegex(@"^(?<key>Parent|Merges|Branches into|Path): (?<value>.*)$")]
    private static partial Regex FieldLine();

    // "alembic downgrade 0003:0001 --sql" (offline mode) prints, per revision, "-- Running downgrade 0003 -> 0002" and then
    // the SQL that revision's downgrade() emits, ending with alembic's own bookkeeping (UPDATE/DELETE on the version table,
    // DROP TABLE alembic_version at base; BEGIN;/COMMIT; where DDL is transactional).
    [GeneratedRegex(@"^-- Running downgrade (?<from>.+?) -> (?<to>.*?)\s*$")]
    private static partial Regex OfflineHeader();

    [GeneratedRegex(@"^\s*(?:UPDATE|DELETE\s+FROM|INSERT\s+INTO)\s+(?<table>\S+)\s.*\bversion_num\b", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex VersionStatement();

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
        return await RunAsync(alembic, Arguments("downgrade", index < 0 ? Base : chain[index].Id), cancellation, TimeSpan.FromMinutes(30)).ConfigureAwait(false);
    }

    public override async Task<string?> SqliteFileAsync(CancellationToken cancellation)
    {
        // "alembic current --verbose" prints "Current revision(s) for <url>:" with the URL env.py really connected with
        // (DATABASE_URL or the like applied, password masked); alembic.ini's sqlalchemy.url only when that line is missing.
        // When the run fails, which database env.py would use is unknown: nothing is copied.
        var run = await RunAsync(alembic, Arguments("current", "--verbose"), cancellation).ConfigureAwait(false);
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

    private IEnumerable<string> Arguments(params string[] command) => new[] { "-c", config }.Concat(command);

    /// <summary>The linear chain of revisions, oldest first, and the index of the applied head (-1: none applied).</summary>
    private async Task<(IReadOnlyList<Revision> Chain, int Current)> LoadAsync(CancellationToken cancellation)
    {
        // Both at once: each alembic start takes about half a second.
        var revisions = HistoryAsync(cancellation);
        var currentRun = RunAsync(alembic, Arguments("current"), cancellation);
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

    private async Task<IReadOnlyList<Revision>> HistoryAsync(CancellationToken cancellation) => history ??= await ReadHistoryAsync(cancellation).ConfigureAwait(false);

    private async Task<IReadOnlyList<Revision>> ReadHistoryAsync(CancellationToken cancellation)
    {
        var run = await RunAsync(alembic, Arguments("history", "--verbose"), cancellation).ConfigureAwait(false);
        if (run.ExitCode != 0)
        {
            throw Failed("list the revisions", run);
        }

        var revisions = new List<Revision>();
        string? id = null, parent = null, path = null;
        var nonLinear = new List<string>();
        void Flush()
        {
            if (id is not null)
            {
                revisions.Add(new Revision(id, parent, path));
            }

            id = parent = path = null;
        }

        foreach (var line in run.StandardOutput.Split('\n'))
        {
            if (RevLine().Match(line) is { Success: true } rev)
            {
                Flush();
                id = rev.Groups["rev"].Value;
                if (rev.Groups["flags"].Value.Contains("(branchpoint)", StringComparison.Ordinal) || rev.Groups["flags"].Value.Contains("(mergepoint)", StringComparison.Ordinal))
                {
                    nonLinear.Add($"{id} is a {(rev.Groups["flags"].Value.Contains("(branchpoint)", StringComparison.Ordinal) ? "branch" : "merge")} point");
                }
            }
            else if (id is not null && path is null && FieldLine().Match(line) is { Success: true } field)
            {
                var value = field.Groups["value"].Value.Trim();
                switch (field.Groups["key"].Value)
                {
                    case "Parent":
                        parent = value == "<base>" ? null : value;
                        break;
                    case "Path":
                        path = value;
                        break;
                    default:
                        break;
                }
            }
        }

        Flush();
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
        var chain = new List<Revision>();
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
    private int Resolve(string target, IReadOnlyList<Revision> chain)
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
    private async Task<IReadOnlyList<string>> IrreversibleAsync(IReadOnlyList<Revision> unapply, string target, CancellationToken cancellation)
    {
        var irreversible = new List<string>();
        var next = 0;
        while (next < unapply.Count)
        {
            var run = await RunAsync(alembic, Arguments("downgrade", $"{unapply[next].Id}:{target}", "--sql"), cancellation).ConfigureAwait(false);
            var sections = OfflineSections(run.StandardOutput);
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
    private static bool ScriptIrreversible(Revision revision) =>
        Function(revision, "downgrade") is { Found: true } downgrade && (downgrade.Raises || (downgrade.Empty && !(Function(revision, "upgrade") is { Found: true, Empty: true })));

    private static int IndexOf(IReadOnlyList<Revision> revisions, string id, int from)
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

    /// <summary>The revisions in offline SQL output, in order, each with whether it emitted SQL other than alembic's bookkeeping.</summary>
    private static List<(string Revision, bool Substantive)> OfflineSections(string output)
    {
        var sections = new List<(string Revision, List<string> Statements)>();
        var statement = new StringBuilder();
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (OfflineHeader().Match(line) is { Success: true } header)
            {
                sections.Add((header.Groups["from"].Value.Trim(), new List<string>()));
                statement.Clear();
                continue;
            }

            if (sections.Count == 0 || line.Trim().Length == 0 || line.TrimStart().StartsWith("--", StringComparison.Ordinal))
            {
                continue;
            }

            statement.Append(line).Append('\n');
            var trimmed = line.Trim();
            if (trimmed.EndsWith(';') || trimmed.Equals("GO", StringComparison.OrdinalIgnoreCase))
            {
                sections[^1].Statements.Add(statement.ToString().Trim());
                statement.Clear();
            }
        }

        if (statement.Length > 0 && sections.Count > 0)
        {
            sections[^1].Statements.Add(statement.ToString().Trim());
        }

        // The version table is the one the version_num statements name (alembic_version unless env.py renames it).
        var versionTables = sections.SelectMany(s => s.Statements).Select(s => VersionStatement().Match(s)).Where(m => m.Success)
            .Select(m => m.Groups["table"].Value.Trim('"', '`', '[', ']')).ToHashSet(StringComparer.OrdinalIgnoreCase);
        versionTables.Add("alembic_version");
        bool Bookkeeping(string sql)
        {
            var text = sql.TrimEnd(';').Trim();
            return VersionStatement().IsMatch(sql) || text.Length == 0
                || text.Equals("BEGIN", StringComparison.OrdinalIgnoreCase) || text.Equals("COMMIT", StringComparison.OrdinalIgnoreCase)
                || text.Equals("BEGIN TRANSACTION", StringComparison.OrdinalIgnoreCase) || text.Equals("GO", StringComparison.OrdinalIgnoreCase)
                || (text.StartsWith("DROP TABLE ", StringComparison.OrdinalIgnoreCase) && versionTables.Contains(text["DROP TABLE ".Length..].Trim().Trim('"', '`', '[', ']')));
        }

        return sections.Select(s => (s.Revision, s.Statements.Any(sql => !Bookkeeping(sql)))).ToList();
    }

    /// <summary>
    /// A top-level function of a revision script, read as text: Empty when its body is only a docstring, comments, pass
    /// or "..."; Raises when a statement at the body's top level is a raise. Found is false when the script or the
    /// function cannot be read (then nothing is concluded from it).
    /// </summary>
    private static (bool Found, bool Empty, bool Raises) Function(Revision revision, string name)
    {
        string[] lines;
        try
        {
            if (revision.Path is null || !File.Exists(revision.Path))
            {
                return (false, false, false);
            }

            lines = File.ReadAllText(revision.Path).Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (false, false, false);
        }

        var start = Array.FindIndex(lines, l => Regex.IsMatch(l, @"^(?:async\s+)?def\s+" + Regex.Escape(name) + @"\s*\("));
        if (start < 0)
        {
            return (false, false, false);
        }

        // The signature ends at the first line ending in ':' (after comments are removed); code after "):" on it is the body.
        var end = start;
        while (end < lines.Length && !StripComment(lines[end]).TrimEnd().EndsWith(':') && !Regex.IsMatch(StripComment(lines[end]), @"\)\s*(?:->[^:]*)?:\s*\S"))
        {
            end++;
        }

        if (end >= lines.Length)
        {
            return (false, false, false);
        }

        var body = new List<string>();
        var inline = Regex.Match(StripComment(lines[end]), @"\)\s*(?:->[^:]*)?:(?<rest>.*)$").Groups["rest"].Value;
        if (inline.Trim().Length > 0)
        {
            body.AddRange(inline.Split(';').Select(s => " " + s.Trim()));
        }
        else
        {
            for (var i = end + 1; i < lines.Length; i++)
            {
                var code = StripComment(lines[i]);
                if (code.Trim().Length == 0)
                {
                    continue;
                }

                if (!char.IsWhiteSpace(code[0]))
                {
                    break;
                }

                body.Add(code.TrimEnd());
            }
        }

        // Leave out a leading docstring.
        if (body.Count > 0 && Regex.Match(body[0].Trim(), @"^[rRuUbB]?(?<quote>""""""|''')") is { Success: true } doc)
        {
            var quote = doc.Groups["quote"].Value;
            var first = body[0].Trim()[(doc.Length)..];
            var close = first.Contains(quote, StringComparison.Ordinal) ? 0 : body.FindIndex(1, l => l.Contains(quote, StringComparison.Ordinal));
            body.RemoveRange(0, close < 0 ? body.Count : close + 1);
        }

        if (body.Count == 0)
        {
            return (true, true, false);
        }

        var indent = body[0].Length - body[0].TrimStart().Length;
        var empty = body.All(l => l.Trim() is "pass" or "...");
        var raises = body.Any(l => l.Length - l.TrimStart().Length == indent && Regex.IsMatch(l.Trim(), @"^raise\b"));
        return (true, empty, raises);
    }

    /// <summary>A line without its "#" comment (a "#" inside a string is taken as a comment too: good enough to see pass and raise).</summary>
    private static string StripComment(string line)
    {
        var hash = line.IndexOf('#', StringComparison.Ordinal);
        return hash < 0 ? line : line[..hash];
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
