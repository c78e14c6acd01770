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
/// Blank lines are not lines. Only a line's first <see cref="MaxLineLength"/> characters are looked at, and every pattern
/// runs without backtracking, so a huge line costs linear time.
/// </summary>
public static class ErrorLines
{
    public const int MaxLineLength = 2000;

    private const RegexOptions Options = RegexOptions.CultureInvariant | RegexOptions.NonBacktracking;

    private static readonly Regex StructuredLevel = new(
        @"(^|[\s,{])(?i:(level|lvl|severity)=""?|""(level|lvl|severity|levelname|log\.level|@l)""\s*:\s*""?)(?<level>[A-Za-z]+|[0-9]+)", Options);

    private static readonly Regex ErrorLevelName = new(@"^(?i:error|err|fatal|critical|crit|alert|emerg|emergency|panic|dpanic|severe)$", Options);

    private static readonly Regex Marker = new(
        @"\b(ERROR|ERR|FATAL|CRITICAL|CRIT|SEVERE|EMERG|ALERT|PANIC)\b"
        + @"|\[(?i:(\w+:)?(error|err|crit|critical|alert|emerg|fatal))\]"
        + @"|(^|\s)(fail|crit): \S+\[\d+\]"
        + @"|^[EF]\d{4} \d\d:\d\d:\d\d\.\d+"
        + @"|Exception\b"
        + @"|\b([A-Z]\w*)?Error:"
        + @"|Traceback \(most recent call last\)"
        + @"|\bpanic:",
        Options);

    private static readonly Regex ServerError = new(
        @"""[A-Z]{3,7} \S+ HTTP/\d(\.\d)?"" 5\d\d\b"
        + @"|""(status|status_code|statusCode)""\s*:\s*""?5\d\d\b"
        + @"|(^|\s)status=5\d\d\b",
        Options);

    public static bool IsError(string line)
    {
        var text = line.Length > MaxLineLength ? line[..MaxLineLength] : line;
        if (ServerError.IsMatch(text))
        {
            return true;
        }

        var level = StructuredLevel.Match(text);
        if (level.Success)
        {
            var value = level.Groups["level"].Value;
            return int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number)
                ? number >= 50
                : ErrorLevelName.IsMatch(value);
        }

        return Marker.IsMatch(text);
    }

    /// <summary>Whether a line counts at all: a blank one does not.</summary>
    public static bool IsLine(string line) => !string.IsNullOrWhiteSpace(line);
}
