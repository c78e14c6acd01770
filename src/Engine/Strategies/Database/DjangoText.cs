using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine.Database;

/// <summary>What Django prints, read without running it (pure, so the unit tests feed it captured output).</summary>
internal static partial class DjangoText
{
    // "showmigrations <app>": the app label, then " [X] 0001_initial" (applied) or " [ ] 0002_add_note" per migration, oldest first.
    [GeneratedRegex(@"^\s*\[(?<applied>[X ])\]\s+(?<name>\S+)\s*$")]
    private static partial Regex ShowLine();

    public static IReadOnlyList<Migration> ShowMigrations(string output) =>
        output.Split('\n').Select(l => ShowLine().Match(l.TrimEnd('\r'))).Where(m => m.Success)
            .Select(m => new Migration(m.Groups["name"].Value, m.Groups["applied"].Value == "X")).ToList();

    /// <summary>
    /// "migrate &lt;app&gt; &lt;target&gt; --plan": "app.0003_x" lines in the order they are unapplied, each followed by its
    /// indented operations; "-&gt; IRREVERSIBLE" after an operation marks a migration that cannot be undone.
    /// </summary>
    public static (IReadOnlyList<string> Unapply, IReadOnlyList<string> Irreversible) Plan(string output, string app)
    {
        var unapply = new List<string>();
        var irreversible = new List<string>();
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length > 0 && !char.IsWhiteSpace(line[0]) && line.StartsWith(app + ".", StringComparison.Ordinal))
            {
                unapply.Add(line.Trim()[(app.Length + 1)..]);
            }
            else if (line.Contains("IRREVERSIBLE", StringComparison.Ordinal) && unapply.Count > 0 && !irreversible.Contains(unapply[^1]))
            {
                irreversible.Add(unapply[^1]);
            }
        }

        return (unapply, irreversible);
    }
}
