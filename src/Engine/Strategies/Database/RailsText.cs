using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine.Database;

/// <summary>What Rails prints and what a migration's source says, read without running Rails (pure, for the unit tests).</summary>
internal static partial class RailsText
{
    // "db:migrate:status" prints a header, then one line per migration, oldest first:
    //    up     20240101000000  Create orders
    //   down    20240103000000  Backfill notes
    //    up     20231201000000  ********** NO FILE **********     (applied, but its file is gone)
    [GeneratedRegex(@"^\s*(?<status>up|down)\s+(?<version>\d+)\s+(?<name>.*?)\s*$")]
    private static partial Regex StatusLine();

    public static IReadOnlyList<Migration> MigrateStatus(string output) =>
        output.Split('\n').Select(l => StatusLine().Match(l.TrimEnd('\r'))).Where(m => m.Success)
            .Select(m => new Migration(m.Groups["version"].Value, m.Groups["status"].Value == "up")).ToList();

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
    public static bool Irreversible(string source)
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
