using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine;

/// <summary>
/// Tells a log's error lines from the others, the same way for every strategy, by markers only: the word "error" in prose
/// ("0 errors", "retrying after an error") does not count. A line is an error line when
/// <list type="bullet">
/// <item>it carries a structured level (logfmt <c>level=</c>, <c>lvl=</c> or <c>severity=</c>; JSON <c>"level"</c>, <c>"lvl"</c>,
/// <c>"severity"</c>, <c>"levelname"</c>, <c>"log.level"</c> or <c>"@l"</c>) that is error, err, fatal, critical, crit, alert,
/// emerg, emergency, panic, dpanic or severe (any case), or a numeric JSON level of 50 or more (pino, bunyan);</item>
/// <item>or it carries no structured level and holds one of: an upper-case level word (ERROR, ERR, FATAL, CRITICAL, CRIT,
/// SEVERE, EMERG, ALERT, PANIC); a bracketed level ([error], [crit], [alert], [emerg], [fatal], [core:error], any case);
/// a .NET console level before a category (<c>fail: Name[0]</c>, <c>crit: Name[0]</c>); a klog E or F line
/// (<c>E0102 15:04:05.000000</c>); a word ending in Exception; an error class before a colon (<c>ValueError:</c>,
/// <c>Error:</c>); <c>Traceback (most recent call last)</c>; Go's <c>panic:</c>;</item>
/// <item>or, whatever its level, it records an HTTP 5xx answer: an access log's <c>"GET /x HTTP/1.1" 503</c>, JSON
/// <c>"status": 503</c> (also status_code, statusCode) or logfmt <c>status=503</c>.</item>
/// </list>
/// Blank lines are not lines. Only a line's first <see cref="MaxLineLength"/> characters are looked at. The patterns are
/// compiled into the module (no construction at run time); none nests a quantifier, so a line of that length costs at
/// most about half a millisecond (measured on adversarial lines), and a match that still took longer than
/// <see cref="MatchTimeoutMs"/> counts the line as no error.
/// </summary>
public static partial class ErrorLines
{
    public const int MaxLineLength = 2000;

    public const int MatchTimeoutMs = 100;

    private const string StructuredLevelPattern =
        @"(^|[\s,{])(?i:(level|lvl|severity)=""?|""(level|lvl|severity|levelname|log\.level|@l)""\s*:\s*""?)(?<level>[A-Za-z]+|[0-9]+)";

    private const string ErrorLevelNamePattern = @"^(?i:error|err|fatal|critical|crit|alert|emerg|emergency|panic|dpanic|severe)$";

    private const string MarkerPattern =
        @"\b(ERROR|ERR|FATAL|CRITICAL|CRIT|SEVERE|EMERG|ALERT|PANIC)\b"
        + @"|\[(?i:(\w+:)?(error|err|crit|critical|alert|emerg|fatal))\]"
        + @"|(^|\s)(fail|crit): \S+\[\d+\]"
        + @"|^[EF]\d{4} \d\d:\d\d:\d\d\.\d+"
        + @"|Exception\b"
        + @"|\b([A-Z]\w*)?Error:"
        + @"|Traceback \(most recent call last\)"
        + @"|\bpanic:";

    private const string ServerErrorPattern =
        @"""[A-Z]{3,7} \S+ HTTP/\d(\.\d)?"" 5\d\d\b"
        + @"|""(status|status_code|statusCode)""\s*:\s*""?5\d\d\b"
        + @"|(^|\s)status=5\d\d\b";

    // Source-generated: a fresh process pays nothing to build them. The non-backtracking engine this replaced cost about
    // 150 ms of CPU on first use in every process that compared logs (see docs/DESIGN-NOTES.md, "Error spikes in logs").
    [GeneratedRegex(StructuredLevelPattern, RegexOptions.CultureInvariant, MatchTimeoutMs)]
    private static partial Regex StructuredLevel();

    [GeneratedRegex(ErrorLevelNamePattern, RegexOptions.CultureInvariant, MatchTimeoutMs)]
    private static partial Regex ErrorLevelName();

    [GeneratedRegex(MarkerPattern, RegexOptions.CultureInvariant, MatchTimeoutMs)]
    private static partial Regex Marker();

    [GeneratedRegex(ServerErrorPattern, RegexOptions.CultureInvariant, MatchTimeoutMs)]
    private static partial Regex ServerError();

    /// <summary>The four patterns a line is tried against.</summary>
    internal sealed record Patterns(Regex ServerError, Regex StructuredLevel, Regex ErrorLevelName, Regex Marker);

    private static readonly Patterns Compiled = new(ServerError(), StructuredLevel(), ErrorLevelName(), Marker());

    /// <summary>The same patterns for the engine without backtracking, which the tests compare the compiled ones with.</summary>
    internal static Patterns WithoutBacktracking()
    {
        const RegexOptions options = RegexOptions.CultureInvariant | RegexOptions.NonBacktracking;
        return new(new Regex(ServerErrorPattern, options), new Regex(StructuredLevelPattern, options), new Regex(ErrorLevelNamePattern, options), new Regex(MarkerPattern, options));
    }

    public static bool IsError(string line) => IsError(line, Compiled);

    internal static bool IsError(string line, Patterns patterns)
    {
        var text = line.Length > MaxLineLength ? line[..MaxLineLength] : line;
        try
        {
            if (patterns.ServerError.IsMatch(text))
            {
                return true;
            }

            var level = patterns.StructuredLevel.Match(text);
            if (level.Success)
            {
                var value = level.Groups["level"].Value;
                return int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number)
                    ? number >= 50
                    : patterns.ErrorLevelName.IsMatch(value);
            }

            return patterns.Marker.IsMatch(text);
        }
        catch (RegexMatchTimeoutException)
        {
            return false;
        }
    }

    /// <summary>Whether a line counts at all: a blank one does not.</summary>
    public static bool IsLine(string line) => !string.IsNullOrWhiteSpace(line);
}
