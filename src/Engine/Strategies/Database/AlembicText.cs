using System.Text;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine.Database;

/// <summary>One revision script: its id, its parent (null for the first one) and the script's path.</summary>
internal sealed record AlembicRevision(string Id, string? Parent, string? Path);

/// <summary>What Alembic prints and what a revision script's source says, read without running Alembic (pure, for the unit tests).</summary>
internal static partial class AlembicText
{
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

    /// <summary>The revisions of "alembic history --verbose", newest first as printed, and the branch and merge points found.</summary>
    public static (List<AlembicRevision> Revisions, List<string> NonLinear) History(string output)
    {
        var revisions = new List<AlembicRevision>();
        string? id = null, parent = null, path = null;
        var nonLinear = new List<string>();
        void Flush()
        {
            if (id is not null)
            {
                revisions.Add(new AlembicRevision(id, parent, path));
            }

            id = parent = path = null;
        }

        foreach (var line in output.Split('\n'))
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
        return (revisions, nonLinear);
    }

    // "alembic downgrade 0003:0001 --sql" (offline mode) prints, per revision, "-- Running downgrade 0003 -> 0002" and then
    // the SQL that revision's downgrade() emits, ending with alembic's own bookkeeping (UPDATE/DELETE on the version table,
    // DROP TABLE alembic_version at base; BEGIN;/COMMIT; where DDL is transactional).
    [GeneratedRegex(@"^-- Running downgrade (?<from>.+?) -> (?<to>.*?)\s*$")]
    private static partial Regex OfflineHeader();

    [GeneratedRegex(@"^\s*(?:UPDATE|DELETE\s+FROM|INSERT\s+INTO)\s+(?<table>\S+)\s.*\bversion_num\b", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex VersionStatement();

    /// <summary>The revisions in offline SQL output, in order, each with whether it emitted SQL other than alembic's bookkeeping.</summary>
    public static List<(string Revision, bool Substantive)> OfflineSections(string output)
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
    /// A top-level function of a revision script's source, read as text: Empty when its body is only a docstring,
    /// comments, pass or "..."; Raises when a statement at the body's top level is a raise. Found is false when the
    /// function is not there (then nothing is concluded from it).
    /// </summary>
    public static (bool Found, bool Empty, bool Raises) Function(string source, string name)
    {
        var lines = source.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
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
}
