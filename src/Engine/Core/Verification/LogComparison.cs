using System.Globalization;

namespace DeploymentRollback.Engine;

public enum LogVerdict
{
    NoSpike,
    Spike,
    NoEvidence,
}

/// <summary>
/// The error lines in the logs the checkpoint kept (before: the failed version) against those the target wrote after the
/// rollback, journaled as a LogsCompared event of the attempt. The measure is the share of lines that are error lines
/// (<see cref="ErrorLines"/>), which needs no timestamps and does not move with traffic. After the rollback there is a
/// spike when its share is above the share before and above <see cref="FloorPercent"/> percent (one error line in 100
/// is noise, also when the checkpoint kept no log lines to compare with). No lines after the rollback, or logs that could
/// not be read, are no evidence, with the reason.
/// </summary>
public sealed record LogComparison
{
    public const int FloorPercent = 1;
    private const int ExampleCount = 3;
    private const int ExampleLength = 200;

    public LogVerdict Verdict { get; init; }
    public int BeforeErrorLines { get; init; }
    public int BeforeLines { get; init; }
    public int AfterErrorLines { get; init; }
    public int AfterLines { get; init; }

    /// <summary>How far back the logs after the rollback were read: from the rollback's first change to the reading.</summary>
    public double WindowSeconds { get; init; }

    /// <summary>The checkpoint whose logs are the "before".</summary>
    public string? Checkpoint { get; init; }

    /// <summary>Where the logs after the rollback came from (e.g. pod/web-5d9f/app).</summary>
    public IReadOnlyList<string> Sources { get; init; } = Array.Empty<string>();

    /// <summary>Whether a source gave the most lines it may (<see cref="LogSample.MaxLinesPerSource"/>): older lines of the window were left out.</summary>
    public bool Capped { get; init; }

    /// <summary>Why there is no evidence; null otherwise.</summary>
    public string? Reason { get; init; }

    /// <summary>A few error lines from after the rollback, redacted and shortened.</summary>
    public IReadOnlyList<string> Examples { get; init; } = Array.Empty<string>();

    /// <summary>A few error lines from the checkpoint's logs, redacted and shortened.</summary>
    public IReadOnlyList<string> BeforeExamples { get; init; } = Array.Empty<string>();

    public static LogComparison Compare(IReadOnlyList<string> before, IReadOnlyList<string> after, TimeSpan window, string? checkpoint = null)
    {
        var (beforeErrors, beforeLines, beforeExamples) = Count(before);
        var (afterErrors, afterLines, afterExamples) = Count(after);
        var comparison = new LogComparison
        {
            BeforeErrorLines = beforeErrors,
            BeforeLines = beforeLines,
            AfterErrorLines = afterErrors,
            AfterLines = afterLines,
            WindowSeconds = Math.Round(window.TotalSeconds, 1),
            Checkpoint = checkpoint,
            Examples = afterExamples,
            BeforeExamples = beforeExamples,
        };
        if (afterLines == 0)
        {
            return comparison with { Verdict = LogVerdict.NoEvidence, Reason = $"the target wrote no log lines in the {Seconds(window)} s after the rollback" };
        }

        return comparison with { Verdict = IsSpike(beforeErrors, beforeLines, afterErrors, afterLines) ? LogVerdict.Spike : LogVerdict.NoSpike };
    }

    public static LogComparison NoEvidence(string reason, IReadOnlyList<string> before, TimeSpan window, string? checkpoint = null)
    {
        var (beforeErrors, beforeLines, beforeExamples) = Count(before);
        return new LogComparison
        {
            Verdict = LogVerdict.NoEvidence,
            Reason = reason,
            BeforeErrorLines = beforeErrors,
            BeforeLines = beforeLines,
            BeforeExamples = beforeExamples,
            WindowSeconds = Math.Round(window.TotalSeconds, 1),
            Checkpoint = checkpoint,
        };
    }

    /// <summary>
    /// after/afterLines &gt; before/beforeLines (0 when there were no lines before) and after/afterLines &gt; FloorPercent/100,
    /// in whole numbers so no rounding decides.
    /// </summary>
    public static bool IsSpike(int beforeErrors, int beforeLines, int afterErrors, int afterLines) =>
        afterLines > 0
        && (long)afterErrors * 100 > (long)FloorPercent * afterLines
        && (beforeLines == 0 || (long)afterErrors * beforeLines > (long)beforeErrors * afterLines);

    /// <summary>What the checklist and the run's messages say: the counts and the verdict.</summary>
    public string Describe()
    {
        var counts = $"{Lines(AfterErrorLines, "error line")} in {AfterLines.ToString(CultureInfo.InvariantCulture)} after the rollback against "
            + (BeforeLines == 0
                ? $"none before (the checkpoint kept no log lines; more than {FloorPercent.ToString(CultureInfo.InvariantCulture)} in 100 would be a spike)"
                : $"{BeforeErrorLines.ToString(CultureInfo.InvariantCulture)} in {BeforeLines.ToString(CultureInfo.InvariantCulture)} before");
        return Verdict switch
        {
            LogVerdict.NoSpike => counts,
            LogVerdict.Spike => "spike: " + counts,
            _ => "no evidence: " + Reason,
        };
    }

    private static (int Errors, int Lines, IReadOnlyList<string> Examples) Count(IReadOnlyList<string> lines)
    {
        var errors = 0;
        var counted = 0;
        var examples = new List<string>();
        foreach (var line in lines)
        {
            if (!ErrorLines.IsLine(line))
            {
                continue;
            }

            counted++;
            if (ErrorLines.IsError(line))
            {
                errors++;
                if (examples.Count < ExampleCount)
                {
                    var example = SecretRedactor.Redact(line.Trim());
                    examples.Add(example.Length > ExampleLength ? example[..ExampleLength] + "…" : example);
                }
            }
        }

        return (errors, counted, examples);
    }

    private static string Lines(int count, string noun) => $"{count.ToString(CultureInfo.InvariantCulture)} {noun}{(count == 1 ? "" : "s")}";

    private static string Seconds(TimeSpan window) => Math.Round(window.TotalSeconds).ToString(CultureInfo.InvariantCulture);
}
