using System.Diagnostics;
using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>
/// Watches a target (or a plan) round after round and rolls it back when it is really failing: once per failed
/// version, never within the cooldown, never on the probe's own errors, and never while a person is needed.
/// </summary>
public sealed class Watcher
{
    /// <summary>Who a watcher's rollbacks and decisions are recorded as.</summary>
    public const string Initiator = "watcher";

    private readonly AutomaticRollback action;
    private readonly WatchOptions options;
    private readonly EngineContext context;
    private readonly Action<RollbackResult> onRollback;
    private readonly WatchEvaluator evaluator;
    private readonly WatchReport report;
    private bool paused;

    public Watcher(AutomaticRollback action, WatchOptions options, EngineContext context, Action<RollbackResult> onRollback)
    {
        options.Validate();
        this.action = action;
        this.options = options;
        this.context = context;
        this.onRollback = onRollback;
        evaluator = new WatchEvaluator(options);
        report = new WatchReport { TargetKey = action.TargetKey, StateDirectory = context.State.Directory, DryRun = options.DryRun };
    }

    private string Activity => $"Watching {action.TargetKey}";

    /// <summary>
    /// Runs until the duration has passed, one window is evaluated (-Once), or stop is cancelled (Ctrl+C, SIGTERM).
    /// A rollback under way when stop comes is finished first; the context's own cancellation stops everything.
    /// </summary>
    public async Task<WatchReport> RunAsync(CancellationToken stop)
    {
        report.StartedAt = DateTimeOffset.UtcNow;
        var deadline = options.Duration is { } duration ? report.StartedAt + duration : (DateTimeOffset?)null;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, context.Cancellation);
        try
        {
            await WarmUpAsync(deadline, linked.Token).ConfigureAwait(false);
            while (true)
            {
                var started = Stopwatch.StartNew();
                var acted = await RoundAsync(linked.Token).ConfigureAwait(false);
                if (options.Once && (acted || paused || report.Rounds >= options.RoundsForOneWindow))
                {
                    report.EndReason = "Once";
                    break;
                }

                if (deadline is { } end && DateTimeOffset.UtcNow >= end)
                {
                    report.EndReason = "DurationElapsed";
                    break;
                }

                if (acted)
                {
                    await WarmUpAsync(deadline, linked.Token).ConfigureAwait(false);
                    continue;
                }

                var wait = options.Interval - started.Elapsed;
                if (deadline is { } last && DateTimeOffset.UtcNow + wait > last)
                {
                    wait = last - DateTimeOffset.UtcNow;
                }

                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, linked.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested || context.Cancellation.IsCancellationRequested)
        {
            report.EndReason = "Stopped";
        }

        report.EndedAt = DateTimeOffset.UtcNow;
        report.Paused = paused;
        context.Observer.Progress(new ProgressUpdate(Activity, report.EndReason, Completed: true));
        return report;
    }

    /// <summary>Nothing is measured while a new version warms up (after a deployment, or after the watcher's own rollback).</summary>
    private async Task WarmUpAsync(DateTimeOffset? deadline, CancellationToken cancellation)
    {
        var until = DateTimeOffset.UtcNow + options.InitialDelay;
        if (deadline is { } end && until > end)
        {
            until = end;
        }

        while (DateTimeOffset.UtcNow < until)
        {
            var left = until - DateTimeOffset.UtcNow;
            context.Observer.Progress(new ProgressUpdate(Activity, $"warming up, first measurement in {left.TotalSeconds:0} s", SecondsRemaining: (int)left.TotalSeconds));
            await Task.Delay(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1), cancellation).ConfigureAwait(false);
        }
    }

    /// <summary>One round: measure, journal, count, and act when the count calls for it. True when a rollback ran.</summary>
    private async Task<bool> RoundAsync(CancellationToken cancellation)
    {
        var round = ++report.Rounds;
        var measurements = await WatchProbes.MeasureAsync(options, round, SilentProgress(context.Observer), cancellation).ConfigureAwait(false);
        Journal(measurements);
        var verdict = WatchEvaluator.Combine(measurements, options.NoData);
        _ = verdict switch
        {
            RoundVerdict.Passed => report.PassedRounds++,
            RoundVerdict.Failed => report.FailedRounds++,
            RoundVerdict.Error => report.ErrorRounds++,
            _ => report.NoDataRounds++,
        };
        var call = evaluator.Add(verdict);
        ShowStatus(verdict, measurements);
        foreach (var measurement in measurements)
        {
            context.Observer.Verbose($"Round {round}: {measurement.Probe} {measurement.Name}: {measurement.Outcome} ({measurement.Message})");
        }

        if (paused)
        {
            // A paused watcher acts again only once the target is seen passing: a person fixed it, or it recovered.
            if (verdict == RoundVerdict.Passed)
            {
                paused = false;
                evaluator.Reset();
                Decide("Resumed", "the target passes again", null, null);
            }

            return false;
        }

        switch (call)
        {
            case WatchCall.Pause:
                var why = verdict == RoundVerdict.Inconclusive
                    ? $"inconclusive: {Describe(measurements.Where(m => m.Outcome == MeasurementOutcome.NoData))}"
                    : $"the probes themselves failed {evaluator.ConsecutiveErrors} rounds in a row (limit {options.ConsecutiveErrorLimit}): {Describe(measurements.Where(m => m.Outcome == MeasurementOutcome.Error))}. That is no reason to roll back";
                await PauseAsync(why, null).ConfigureAwait(false);
                return false;
            case WatchCall.RollBack:
                return await ActAsync(measurements).ConfigureAwait(false);
            default:
                return false;
        }
    }

    private async Task<bool> ActAsync(List<WatchMeasurement> measurements)
    {
        var trigger = evaluator.DescribeTrigger();
        var failing = Describe(measurements.Where(m => m.Outcome == MeasurementOutcome.Failed || (m.Outcome == MeasurementOutcome.NoData && options.NoData == NoDataPolicy.Fail)));
        var reason = $"{trigger}: {failing}";
        evaluator.Reset();
        if (options.DryRun)
        {
            Decide("WouldRollBack", $"{reason} (-DryRun: nothing done)", await action.ReadVersionAsync(context).ConfigureAwait(false), null);
            return false;
        }

        var type = measurements.Any(m => m.Probe == "smoke" && !m.Passed) && measurements.All(m => m.Probe == "smoke" || m.Passed) ? FailureType.SmokeTestFailed : FailureType.HealthCheckFailed;
        AutomaticOutcome outcome;
        try
        {
            outcome = await action.RollBackOnceAsync(reason, type, Initiator, options.Cooldown, async version =>
            {
                await EmitAsync(SignalNames.HealthCheckFailed, version, reason, measurements).ConfigureAwait(false);
                await EmitAsync(SignalNames.DeploymentFailed, version, reason, measurements).ConfigureAwait(false);
            }, context).ConfigureAwait(false);
        }
        catch (RollbackException e)
        {
            // The state cannot record the act (read-only, full, unreachable): without a record there is no quarantine, so no act.
            await PauseAsync($"the rollback could not start ({e.ErrorId}): {e.Message}. {reason}", null, "RollbackRefused").ConfigureAwait(false);
            return false;
        }

        if (outcome.NeedsPerson)
        {
            await PauseAsync(outcome.Reason, outcome.Version, outcome.Action).ConfigureAwait(false);
            return false;
        }

        Decide(outcome.Action, outcome.Reason, outcome.Version, outcome.Result?.AttemptId);
        if (outcome.Result is not { } result)
        {
            return false;
        }

        report.Rollbacks.Add(result);
        onRollback(result);
        return true;
    }

    /// <summary>Stops acting and asks for a person, with one MANUAL_INTERVENTION_REQUIRED per pause.</summary>
    private async Task PauseAsync(string why, string? version, string action = "Paused")
    {
        paused = true;
        Decide(action, why, version, null);
        context.Observer.Warning($"Watch of {this.action.TargetKey} paused: {why}");
        if (!options.DryRun)
        {
            await EmitAsync(SignalNames.ManualInterventionRequired, version, why, null).ConfigureAwait(false);
        }
    }

    private async Task EmitAsync(string name, string? version, string reason, List<WatchMeasurement>? measurements)
    {
        var data = new Dictionary<string, object?>
        {
            ["reason"] = reason,
            ["target"] = action.TargetKey,
            ["version"] = version,
            ["by"] = Initiator,
            ["failure_limit"] = options.FailureLimit,
        };
        if (options.Window > 0)
        {
            data["window"] = $"{options.FailuresInWindow} of {options.Window}";
        }

        if (measurements is not null)
        {
            data["measurements"] = measurements.Select(m => new Dictionary<string, object?>
            {
                ["probe"] = m.Probe, ["name"] = m.Name, ["value"] = m.Value, ["condition"] = m.Condition, ["outcome"] = m.Outcome.ToString(), ["message"] = m.Message,
            }).ToList();
        }

        try
        {
            await new SignalStore(context.State).EmitAsync(name, data, action.TargetKey, null, context.Observer, context.Cancellation).ConfigureAwait(false);
            if (name == SignalNames.ManualInterventionRequired)
            {
                await Notifier.NotifyAsync(name, action.TargetKey, data, null, context).ConfigureAwait(false);
            }
        }
        catch (RollbackException e)
        {
            context.Observer.Warning($"The signal {name} was not emitted: {e.Message}");
        }
    }

    private void Decide(string what, string reason, string? version, string? attemptId)
    {
        var decision = new WatchDecision { TargetKey = action.TargetKey, By = Initiator, DryRun = options.DryRun, Round = report.Rounds, At = DateTimeOffset.UtcNow, Action = what, Reason = SecretRedactor.Redact(reason), Version = version, AttemptId = attemptId };
        report.Decisions.Add(decision);
        context.Observer.Verbose($"Watch decision: {what}: {decision.Reason}");
        if (!options.Record)
        {
            return;
        }

        Record(() => context.State.Journal.AddEvent(new JournalEvent(action.TargetKey, attemptId, decision.At, WatchEvents.Decided,
            JsonSerializer.Serialize(decision, Engine.Journal.JsonOptions))));
    }

    private void Journal(List<WatchMeasurement> measurements)
    {
        foreach (var m in measurements.Where(_ => options.Record))
        {
            m.TargetKey = action.TargetKey;
            // Query and Error are spelled out for readers of the raw journal (the checklist's log evidence reads them).
            Record(() => context.State.Journal.AddEvent(new JournalEvent(action.TargetKey, null, m.At, WatchEvents.Measured, JsonSerializer.Serialize(new
            {
                m.TargetKey, m.Probe, m.Name, Query = m.Probe == "prometheus" ? m.Name : null, m.Value, m.Condition, m.Passed, m.Outcome,
                // No data is no evidence either way (the checklist reads only measurements without an error).
                Error = m.Outcome is MeasurementOutcome.Error or MeasurementOutcome.NoData ? m.Message : null, m.Message, m.Round, By = Initiator,
            }, Engine.Journal.JsonOptions))));
            report.Measurements.Add(m);
        }

        if (report.Measurements.Count > 100)
        {
            report.Measurements.RemoveRange(0, report.Measurements.Count - 100);
        }

        // Pruning lists the target's events: every 20th round is often enough to keep the journal near its cap.
        if (options.Record && report.Rounds % 20 == 1)
        {
            Record(() => context.State.Journal.PruneEvents(action.TargetKey, WatchEvents.Measured, options.KeepMeasurements));
        }
    }

    /// <summary>
    /// A journal write that fails (the state read-only, full or unreachable) is a warning, once until writes work again:
    /// a long-running watcher goes on measuring, and it does not act while nothing can be recorded.
    /// </summary>
    private void Record(Action write)
    {
        try
        {
            write();
            recordFailing = false;
        }
        catch (RollbackException e)
        {
            if (!recordFailing)
            {
                context.Observer.Warning($"The watch of {action.TargetKey} cannot record to the state ({e.ErrorId}): {e.Message}. It goes on measuring.");
            }

            recordFailing = true;
        }
    }

    private bool recordFailing;

    private void ShowStatus(RoundVerdict verdict, List<WatchMeasurement> measurements)
    {
        var counts = options.Window > 0
            ? $"{evaluator.ConsecutiveFailures}/{options.FailureLimit} in a row, {evaluator.FailuresInWindow}/{options.FailuresInWindow} of last {options.Window}"
            : $"{evaluator.ConsecutiveFailures}/{options.FailureLimit} failures in a row";
        var errors = evaluator.ConsecutiveErrors > 0 ? $", probe errors {evaluator.ConsecutiveErrors}/{options.ConsecutiveErrorLimit}" : "";
        var values = string.Join("; ", measurements.Select(m => $"{Short(m.Name)} {m.Message}"));
        context.Observer.Progress(new ProgressUpdate(Activity, $"round {report.Rounds} {verdict}{(paused ? " (paused)" : "")}: {counts}{errors} | {values}"));
    }

    private static string Short(string name) => name.Length <= 40 ? name : name[..37] + "...";

    private static string Describe(IEnumerable<WatchMeasurement> measurements) =>
        string.Join("; ", measurements.Select(m => $"{m.Probe} {m.Name}: {m.Message}"));

    /// <summary>The health checks' per-try progress would flicker under the watcher's own status line.</summary>
    private static IRollbackObserver SilentProgress(IRollbackObserver inner) => new WithoutProgress(inner);

    private sealed class WithoutProgress(IRollbackObserver inner) : IRollbackObserver
    {
        public void Progress(ProgressUpdate update) { }
        public void Verbose(string message) => inner.Verbose(message);
        public void Warning(string message) => inner.Warning(message);
        public Task<bool> ShouldProcessAsync(string target, string action) => inner.ShouldProcessAsync(target, action);
        public Task<bool> ShouldProcessAllAsync(string target, IReadOnlyList<string> actions) => inner.ShouldProcessAllAsync(target, actions);
    }
}

/// <summary>The journal events a watcher writes, and how history reads them back.</summary>
public static class WatchEvents
{
    public const string Measured = JournalEventKinds.Measured;
    public const string Decided = "WatchDecided";
    public const string Quarantined = "Quarantined";

    /// <summary>The target's watch decisions, newest first.</summary>
    public static IReadOnlyList<WatchDecision> Decisions(Journal journal, string targetKey, int last) =>
        Read<WatchDecision>(journal, targetKey, Decided, last);

    /// <summary>The target's journaled measurements, newest first.</summary>
    public static IReadOnlyList<WatchMeasurement> Measurements(Journal journal, string targetKey, int last) =>
        Read<WatchMeasurement>(journal, targetKey, Measured, last, (m, e) => m.At = e.At);

    private static List<T> Read<T>(Journal journal, string targetKey, string kind, int last, Action<T, JournalEvent>? fill = null)
        where T : class
    {
        var found = new List<T>();
        foreach (var e in journal.GetEvents(targetKey).Where(e => e.Kind == kind).Reverse().Take(last))
        {
            if (Journal.ReadDetail<T>(e) is { } item)
            {
                fill?.Invoke(item, e);
                found.Add(item);
            }
        }

        return found;
    }
}
