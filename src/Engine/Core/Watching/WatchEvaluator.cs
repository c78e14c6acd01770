namespace DeploymentRollback.Engine;

/// <summary>What one round of measurements adds up to.</summary>
public enum RoundVerdict
{
    Passed,
    Failed,
    /// <summary>A probe itself failed (Prometheus down, DNS): not the application's failure.</summary>
    Error,
    /// <summary>Nothing measured (every probe returned no data, and no data is ignored).</summary>
    NoData,
    Inconclusive,
}

/// <summary>What the rounds so far call for.</summary>
public enum WatchCall
{
    Continue,
    RollBack,
    /// <summary>Ask a person (MANUAL_INTERVENTION_REQUIRED): too many probe errors, or an inconclusive round.</summary>
    Pause,
}

/// <summary>
/// The watcher's counting, apart from any I/O: consecutive failures, the M-of-N window and consecutive probe errors.
/// An error round neither breaks nor extends a failure streak; a passing round clears both counts.
/// </summary>
public sealed class WatchEvaluator
{
    private readonly WatchOptions options;
    private readonly Queue<bool> window = new();

    public WatchEvaluator(WatchOptions options) => this.options = options;

    public int ConsecutiveFailures { get; private set; }
    public int ConsecutiveErrors { get; private set; }
    public int FailuresInWindow => window.Count(failed => failed);

    public static RoundVerdict Combine(IEnumerable<WatchMeasurement> measurements, NoDataPolicy noData)
    {
        var outcomes = measurements.Select(m => m.Outcome == MeasurementOutcome.NoData && noData == NoDataPolicy.Fail ? MeasurementOutcome.Failed : m.Outcome).ToList();
        if (outcomes.Contains(MeasurementOutcome.Failed))
        {
            return RoundVerdict.Failed;
        }

        if (outcomes.Contains(MeasurementOutcome.Error))
        {
            return RoundVerdict.Error;
        }

        if (outcomes.Contains(MeasurementOutcome.NoData) && noData == NoDataPolicy.Inconclusive)
        {
            return RoundVerdict.Inconclusive;
        }

        return outcomes.Contains(MeasurementOutcome.Passed) ? RoundVerdict.Passed : RoundVerdict.NoData;
    }

    public WatchCall Add(RoundVerdict verdict)
    {
        switch (verdict)
        {
            case RoundVerdict.Passed:
                ConsecutiveFailures = 0;
                ConsecutiveErrors = 0;
                Slide(false);
                return WatchCall.Continue;
            case RoundVerdict.Failed:
                ConsecutiveFailures++;
                ConsecutiveErrors = 0;
                Slide(true);
                var byStreak = ConsecutiveFailures >= options.FailureLimit;
                var byWindow = options.Window > 0 && FailuresInWindow >= options.FailuresInWindow;
                return byStreak || byWindow ? WatchCall.RollBack : WatchCall.Continue;
            case RoundVerdict.Error:
                ConsecutiveErrors++;
                return ConsecutiveErrors >= options.ConsecutiveErrorLimit ? WatchCall.Pause : WatchCall.Continue;
            case RoundVerdict.Inconclusive:
                return WatchCall.Pause;
            default:
                return WatchCall.Continue;
        }
    }

    /// <summary>What crossed the threshold, in words, for the signal and the journal.</summary>
    public string DescribeTrigger() =>
        ConsecutiveFailures >= options.FailureLimit
            ? $"{ConsecutiveFailures} failed rounds in a row (limit {options.FailureLimit})"
            : $"{FailuresInWindow} failed rounds among the last {window.Count} (limit {options.FailuresInWindow} of {options.Window})";

    /// <summary>A fresh count, after acting or after a person resumed the watch.</summary>
    public void Reset()
    {
        ConsecutiveFailures = 0;
        ConsecutiveErrors = 0;
        window.Clear();
    }

    private void Slide(bool failed)
    {
        if (options.Window <= 0)
        {
            return;
        }

        window.Enqueue(failed);
        while (window.Count > options.Window)
        {
            window.Dequeue();
        }
    }
}
