using System.Text.Json;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine.Database;

/// <summary>What dotnet ef prints, read without running it (pure, for the unit tests).</summary>
internal static partial class EfCoreText
{
    // The statement each migration's down SQL ends with: DELETE FROM "__EFMigrationsHistory" WHERE "MigrationId" = '<id>';
    [GeneratedRegex(@"DELETE\s+FROM\s+[^;]*?\bWHERE\s+[\[""`]?MigrationId[\]""`]?\s*=\s*N?'(?<id>[^']+)'\s*;", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex HistoryDelete();

    // What a script holds around the migrations' own statements: transactions, SQLite's foreign-key switches, batch separators, comments.
    [GeneratedRegex(@"^\s*(BEGIN( TRANSACTION)?|START TRANSACTION|COMMIT|GO|PRAGMA foreign_keys\s*=\s*\w+|--.*)?\s*;?\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex Framing();

    /// <summary>The lines dotnet ef printed at one level ("data", "info", "warn", "error", "verbose"), without the prefix.</summary>
    public static IEnumerable<string> Lines(string output, string level)
    {
        // --prefix-output pads "<level>:" to 9 characters: "data:    [", "verbose: Using project ...".
        var prefix = level + ":";
        return output.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.StartsWith(prefix, StringComparison.Ordinal))
            .Select(l => l.Length > 9 ? l[9..] : "");
    }

    /// <summary>Whether ef.dll ran (it prefixes each line it prints), rather than the runtime failing to start it.</summary>
    public static bool Started(string output) =>
        new[] { "data", "info", "warn", "error", "verbose" }.Any(level => Lines(output, level).Any());

    /// <summary>
    /// "migrations list --json": [{"id": "20240101_InitialCreate", "name": "InitialCreate", "applied": true}, ...], oldest
    /// first; "applied" is null when dotnet ef could not reach the database. Throws JsonException (or
    /// InvalidOperationException, KeyNotFoundException) on anything else.
    /// </summary>
    public static IReadOnlyList<(string Id, string Name, bool? Applied)> MigrationsList(string json)
    {
        using var document = JsonDocument.Parse(json);
        var migrations = new List<(string, string, bool?)>();
        foreach (var item in document.RootElement.EnumerateArray())
        {
            var id = item.GetProperty("id").GetString() ?? "";
            var name = item.TryGetProperty("name", out var value) ? value.GetString() ?? id : id;
            var applied = item.TryGetProperty("applied", out var flag) && flag.ValueKind is JsonValueKind.True or JsonValueKind.False ? flag.GetBoolean() : (bool?)null;
            migrations.Add((id, name, applied));
        }

        return migrations;
    }

    /// <summary>The migrations whose down SQL in the script is empty: nothing but their history row's DELETE.</summary>
    public static IEnumerable<string> EmptyDowns(string script)
    {
        var start = 0;
        foreach (Match delete in HistoryDelete().Matches(script))
        {
            var own = script[start..delete.Index].Split('\n').Where(line => !Framing().IsMatch(line));
            if (!own.Any())
            {
                yield return delete.Groups["id"].Value;
            }

            start = delete.Index + delete.Length;
        }
    }
}
