namespace DeploymentRollback.Engine;

/// <summary>
/// The rollback a watcher or an alert listener runs on its own: one target's or a whole plan's. Each knows the
/// version now deployed, which is what a failure is about and what gets quarantined.
/// </summary>
public abstract class AutomaticRollback
{
    public abstract string TargetKey { get; }

    /// <summary>The version now deployed (a plan's: every component's), or null when it cannot be read.</summary>
    public abstract Task<string?> CurrentVersionAsync(EngineContext context);

    public abstract Task<RollbackResult?> RunAsync(string reason, FailureType type, string initiator, EngineContext context);

    /// <summary>The version now deployed, or null (with a warning) when it cannot be read: then nothing is quarantined.</summary>
    public async Task<string?> ReadVersionAsync(EngineContext context)
    {
        try
        {
            return await CurrentVersionAsync(context).ConfigureAwait(false);
        }
        catch (RollbackException e)
        {
            context.Observer.Warning($"The version deployed on {TargetKey} cannot be read ({e.Message}); the rollback goes on without quarantining it.");
            return null;
        }
    }

    /// <summary>
    /// Rolls back at most once per failed version: not within the cooldown of the target's last automatic rollback,
    /// not a version already rolled back automatically (quarantined), and, of several watchers or listeners acting at
    /// once, only the first (the others wait for the lock "watch:&lt;target&gt;" and find the version gone).
    /// signalFailure emits the input signals just before the rollback, so its time to recovery starts there.
    /// </summary>
    public async Task<AutomaticOutcome> RollBackOnceAsync(string reason, FailureType type, string initiator, TimeSpan cooldown, Func<string?, Task> signalFailure, EngineContext context)
    {
        var version = await ReadVersionAsync(context).ConfigureAwait(false);
        var now = DateTimeOffset.UtcNow;
        // An attempt that never completed (its process died) starts no cooldown: the act that finds it finishes it.
        if (context.State.Journal.GetAttempts(TargetKey, limit: 50).FirstOrDefault(a => a.Initiator is not null && a.StartedAt > now - cooldown && a.CompletedAt > a.StartedAt) is { } recent)
        {
            return new AutomaticOutcome("CoolingDown", $"{reason}; but the automatic rollback {recent.AttemptId} ran {(now - recent.StartedAt).TotalSeconds:0} s ago (cooldown {cooldown.TotalSeconds:0} s)", version);
        }

        await using (await context.State.Store.AcquireLockAsync(LockKey, TimeSpan.FromMinutes(30), context.Observer, context.Cancellation).ConfigureAwait(false))
        {
            var current = await ReadVersionAsync(context).ConfigureAwait(false);
            if (version is not null && current != version)
            {
                return new AutomaticOutcome("AlreadyHandled", $"{reason}; but {version} is no longer deployed (now {current ?? "unknown"}): someone else acted", current);
            }

            if (version is not null && IsQuarantined(context.State.Journal, version))
            {
                return new AutomaticOutcome("Quarantined", $"{version} failed again, and it was already rolled back automatically once (quarantined): a person must decide. {reason}", version, NeedsPerson: true);
            }

            await signalFailure(version).ConfigureAwait(false);
            if (version is not null)
            {
                context.State.Journal.AddEvent(new JournalEvent(TargetKey, null, DateTimeOffset.UtcNow, WatchEvents.Quarantined,
                    System.Text.Json.JsonSerializer.Serialize(new { Version = version, Reason = reason, By = initiator }, Journal.JsonOptions)));
            }

            RollbackResult? result;
            try
            {
                result = await RunAsync(reason, type, initiator, context).ConfigureAwait(false);
            }
            catch (RollbackException e)
            {
                // Refused (escalated earlier, a plan's preflight): no automatic act is worth more than a person looking now.
                return new AutomaticOutcome("RollbackRefused", $"the rollback was refused ({e.ErrorId}): {e.Message}", version, NeedsPerson: true);
            }

            return result is null
                ? new AutomaticOutcome("NotConfirmed", "consent was not given for every step (-WhatIf or -Confirm): nothing changed", version)
                : new AutomaticOutcome("RolledBack", $"{reason}; rollback {result.Outcome}: {result.Message}", version, result);
        }
    }

    /// <summary>The lock automatic acts on the target take (apart from the rollback's own target lock, which the rollback takes).</summary>
    public string LockKey => "watch:" + TargetKey;

    /// <summary>
    /// Whether an automatic rollback already went from this version. A quarantine whose rollback never recorded its
    /// decision (the process died during it) does not count: the next act runs the rollback again, which finds the
    /// interrupted attempt and finishes it, as a rerun of Invoke-Rollback does.
    /// </summary>
    public static bool IsQuarantined(Journal journal, string targetKey, string version)
    {
        var events = journal.GetEvents(targetKey);
        return events.Select((e, i) => (e, i)).Any(q => q.e.Kind == WatchEvents.Quarantined && QuarantinedVersion(q.e) == version
            && events.Skip(q.i + 1).Any(d => d.Kind == WatchEvents.Decided && QuarantinedVersion(d) == version && EndedAct(d)));
    }

    private static readonly string[] ActEnds = ["RolledBack", "RollbackRefused", "NotConfirmed"];

    /// <summary>A decision that ends an act (the rollback ran, was refused, or was not consented to).</summary>
    private static bool EndedAct(JournalEvent decision)
    {
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(decision.Detail);
            return document.RootElement.TryGetProperty("Action", out var action) && ActEnds.Contains(action.GetString());
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    private bool IsQuarantined(Journal journal, string version) => IsQuarantined(journal, TargetKey, version);

    private static string? QuarantinedVersion(JournalEvent e)
    {
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(e.Detail);
            return document.RootElement.TryGetProperty("Version", out var v) ? v.GetString() : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    public static AutomaticRollback ForTarget(RollbackRequest request, EngineContext context) => new TargetRollback(request, context);

    public static AutomaticRollback ForPlan(ServicePlan plan, PlanRunOptions options) => new PlanRollback(plan, options);

    private sealed class TargetRollback : AutomaticRollback
    {
        private readonly RollbackRequest request;

        public TargetRollback(RollbackRequest request, EngineContext context)
        {
            this.request = request;
            // Opening the session checks the target before the watch starts, and gives its key.
            var session = StrategyRegistry.Open(request, context);
            TargetKey = session.Target.Key;
            session.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        public override string TargetKey { get; }

        public override async Task<string?> CurrentVersionAsync(EngineContext context)
        {
            await using var session = StrategyRegistry.Open(request, context);
            return (await session.GetCurrentVersionAsync().ConfigureAwait(false)).Version;
        }

        public override Task<RollbackResult?> RunAsync(string reason, FailureType type, string initiator, EngineContext context) =>
            RollbackEngine.InvokeAsync(request with { Reason = reason, FailureType = type, Initiator = initiator }, context);
    }

    private sealed class PlanRollback(ServicePlan plan, PlanRunOptions options) : AutomaticRollback
    {
        public override string TargetKey => plan.TargetKey;

        public override async Task<string?> CurrentVersionAsync(EngineContext context)
        {
            var versions = new List<string>();
            foreach (var component in plan.Components)
            {
                await using var session = StrategyRegistry.Open(component.Request, context);
                versions.Add($"{component.Name} {(await session.GetCurrentVersionAsync().ConfigureAwait(false)).Version ?? "unknown"}");
            }

            return string.Join(", ", versions);
        }

        public override Task<RollbackResult?> RunAsync(string reason, FailureType type, string initiator, EngineContext context) =>
            PlanEngine.InvokeAsync(plan, options with { Reason = reason, FailureType = type, Initiator = initiator }, context);
    }
}

/// <summary>What one automatic act came to: its decision, why, the version it was about, the rollback it ran, and whether a person is needed now.</summary>
public sealed record AutomaticOutcome(string Action, string Reason, string? Version, RollbackResult? Result = null, bool NeedsPerson = false);
