using System.Globalization;
using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>
/// A whole service rolled back as one incident: every component assessed against the release snapshot (in parallel),
/// every selected one preflighted before anything changes, then taken back wave by wave (flags, configuration,
/// application, data, or as DependsOn says), each as its own attempt, and the service verified at the end.
/// </summary>
public static class PlanEngine
{
    /// <summary>The strategy name a plan's own attempts are journaled under.</summary>
    public const string PlanStrategy = "Plan";

    /// <summary>Checks the service (its own checks and every component's); when healthy and asked, records a release snapshot.</summary>
    public static async Task<HealthReport> TestHealthAsync(ServicePlan plan, bool recordVerified, string? label, bool signalOnFailure, Uri? webhookUri, EngineContext context)
    {
        await using var opened = await OpenAsync(plan, null, new PlanRunOptions(), context).ConfigureAwait(false);
        var report = await CheckServiceAsync(plan, context).ConfigureAwait(false);
        foreach (var component in plan.Components.Where(c => c.Request.Verification.Any))
        {
            var own = await HealthVerifier.VerifyAsync(component.Request.Verification.HealthChecks, component.Request.Verification.SmokeTests, context.Observer, context.Cancellation).ConfigureAwait(false);
            report.Checks.AddRange(own.Checks);
            report.SmokeTests.AddRange(own.SmokeTests);
        }

        var versions = await ReadVersionsAsync(opened.States, context).ConfigureAwait(false);
        var snapshot = new ReleaseSnapshot
        {
            ReleaseId = ReleaseSnapshots.NewId(DateTimeOffset.UtcNow),
            Service = plan.Service,
            RecordedAt = DateTimeOffset.UtcNow,
            Components = opened.States.Select(s => new ComponentVersion
            {
                Name = s.Component.Name, Strategy = s.Request.Strategy, TargetKey = s.Session.Target.Key,
                Version = versions[s.Component.Name].Version, Identity = versions[s.Component.Name].Identity,
            }).ToList(),
        };
        snapshot.Label = label ?? snapshot.Components.Select(c => c.Version).FirstOrDefault(v => v is not null && VersionTag.TryParse(v) is not null);
        RollbackEngine.FillHealthTarget(report, PlanStrategy, plan.TargetKey, plan.Path ?? "", context.State, snapshot.Label ?? snapshot.ReleaseId);

        var record = report.Healthy && recordVerified;
        var unread = opened.States.Where(s => versions[s.Component.Name].Version is null).Select(s => $"{s.Component.Name}: {string.Join("; ", s.Assessment.Problems)}").ToList();
        if (record && unread.Count > 0)
        {
            // A release that does not know where one of its components was is no release to go back to.
            throw new RollbackException(ErrorIds.ReleaseSnapshotIncomplete, RollbackErrorKind.InvalidOperation,
                $"The service is healthy, but no release snapshot was recorded: the version of {string.Join(", ", unread)}. Make every component readable (or pass its credentials with -ComponentParameter) and record again.")
            { TargetName = plan.TargetKey };
        }

        var action = record
            ? $"Record release {snapshot.Label ?? snapshot.ReleaseId} of {plan.Service} as verified-good: {string.Join(", ", snapshot.Components.Select(c => $"{c.Name} {c.Version}"))}"
            : "Record the health verdict in the journal";
        if (!await context.Observer.ShouldProcessAsync(plan.TargetKey, action).ConfigureAwait(false))
        {
            return report;
        }

        RollbackEngine.JournalHealth(context.State, report);
        if (record)
        {
            // Each component's own verified-good record (with what restores it exactly), then the release that ties them together.
            await ForEachAsync(opened.States, 4, async state =>
            {
                var version = versions[state.Component.Name];
                var own = new HealthReport { Checks = report.Checks, SmokeTests = report.SmokeTests, CheckedAt = report.CheckedAt };
                RollbackEngine.FillHealthTarget(own, state.Request.Strategy, state.Session.Target.Key, state.Session.Target.Location, context.State, version.Version);
                await RollbackEngine.RecordHealthAsync(context, state.Session, own, version.Identity, recordVerified: true).ConfigureAwait(false);
            }, context.Cancellation).ConfigureAwait(false);
            snapshot.Evidence = $"{report.Checks.Count(c => c.Passed)}/{report.Checks.Count} health checks and {report.SmokeTests.Count(s => s.Passed)}/{report.SmokeTests.Count} smoke tests passed";
            ReleaseSnapshots.Record(context.State, plan.TargetKey, snapshot);
            report.RecordedVerifiedVersion = snapshot.ReleaseId;
        }
        else if (!report.Healthy && signalOnFailure)
        {
            await new SignalStore(context.State).EmitAsync(SignalNames.HealthCheckFailed,
                new Dictionary<string, object?> { ["reason"] = RollbackEngine.DescribeUnhealthy(report), ["service"] = plan.Service, ["failure_type"] = (!report.HealthChecksPassed ? FailureType.HealthCheckFailed : FailureType.SmokeTestFailed).ToString() },
                plan.TargetKey, webhookUri, context.Observer, context.Cancellation).ConfigureAwait(false);
        }

        return report;
    }

    /// <summary>Every component assessed and preflighted against the release snapshot; nothing changes.</summary>
    public static async Task<PlanAssessment> AssessAsync(ServicePlan plan, PlanRunOptions options, EngineContext context)
    {
        // The service's checks need neither the snapshot nor the components' sessions: started first, their first request
        // and the wait for a confirming retry run beside the reading of the journal and the components' assessment.
        using var checkCancellation = CancellationTokenSource.CreateLinkedTokenSource(context.Cancellation);
        var serviceCheck = CheckServiceAsync(plan with { Verification = Quick(plan.Verification) }, context, checkCancellation.Token);
        PlanAssessment assessment;
        try
        {
            var snapshot = ReleaseSnapshots.Find(context.State, plan, options.Snapshot);
            await using var opened = await OpenAsync(plan, snapshot, options, context).ConfigureAwait(false);
            assessment = await AssessOpenedAsync(plan, snapshot, options, opened, deep: true, context, serviceCheck).ConfigureAwait(false);
        }
        catch
        {
            // The command fails with its own error; the check is stopped, not left to report after the command ended.
            checkCancellation.Cancel();
            await serviceCheck.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            throw;
        }

        // The same summary a single target's assessment journals: reports, checklists and the recovery clock read it.
        var failing = assessment.Components.Where(c => c.Healthy == false).ToList();
        var unhealthy = assessment.Health is { Healthy: false } ? assessment.Health : failing.Select(c => c.Health).FirstOrDefault();
        assessment.FailureType = options.FailureType is { } given && given != FailureType.Unknown ? given
            : unhealthy is null ? FailureType.Unknown
            : !unhealthy.HealthChecksPassed ? FailureType.HealthCheckFailed : FailureType.SmokeTestFailed;
        assessment.FailureReason = options.Reason ?? (unhealthy is null ? null : SecretRedactor.Redact(RollbackEngine.DescribeUnhealthy(unhealthy)));
        var errors = failing.Select(c => $"{c.Name} fails its checks: {RollbackEngine.DescribeUnhealthy(c.Health)}").Concat(assessment.Problems).Select(SecretRedactor.Redact).Distinct().ToList();
        var summary = AssessmentSummary.Of(assessment.FailureType, assessment.FailureReason,
            string.Join(", ", assessment.Components.Select(c => $"{c.Name} {c.CurrentVersion}")), assessment.ReleaseLabel ?? assessment.ReleaseId, errors);
        context.State.Journal.AddEvent(new JournalEvent(plan.TargetKey, null, assessment.AssessedAt, JournalEventKinds.Assessed, summary.ToJson()));
        return assessment;
    }

    /// <summary>Returns null when consent was not given for every step (-WhatIf, or a "no" at -Confirm): then nothing changed.</summary>
    public static async Task<RollbackResult?> InvokeAsync(ServicePlan plan, PlanRunOptions options, EngineContext context)
    {
        foreach (var name in options.Components.Concat(options.Skip.Keys).Where(n => plan.Find(n) is null))
        {
            throw new RollbackException(ErrorIds.PlanComponentUnknown, RollbackErrorKind.InvalidArgument,
                $"The plan of {plan.Service} has no component '{name}'. Its components: {string.Join(", ", plan.Components.Select(c => c.Name))}.") { TargetName = name };
        }

        var snapshot = ReleaseSnapshots.Find(context.State, plan, options.Snapshot);
        await using var opened = await OpenAsync(plan, snapshot, options, context).ConfigureAwait(false);
        var earlier = EscalationPolicy.Gate(context.State.Journal, plan.TargetKey, options.Escalation, options.Force, "roll back", context.Observer);

        // Every lock in one order (the keys sorted), so two plans that share a component never wait on each other in a circle.
        var keys = opened.States.Select(s => s.Session.Target.Key).Append(plan.TargetKey).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        foreach (var key in keys)
        {
            opened.Locks.Add(await context.State.Store.AcquireLockAsync(key, options.LockTimeout, context.Observer, context.Cancellation).ConfigureAwait(false));
        }

        // A plan attempt that died after its first wave started may have put every component back without restarting or
        // verifying the service: this run finishes that, even when no component is left to roll back.
        RollbackResult? interruptedPlan = null;
        foreach (var key in keys)
        {
            var recovered = await InterruptedAttempts.RecoverAsync(key, options.WebhookUri, context).ConfigureAwait(false);
            if (key == plan.TargetKey)
            {
                interruptedPlan = recovered.FirstOrDefault(a => a.Steps.Count > 0);
            }
        }

        var assessment = await AssessOpenedAsync(plan, snapshot, options, opened, deep: false, context).ConfigureAwait(false);
        var selected = opened.States.Where(s => s.Assessment.Selected).OrderBy(s => s.Assessment.Wave).ThenBy(s => s.Component.Name, StringComparer.OrdinalIgnoreCase).ToList();
        if (!assessment.CanRollBack)
        {
            await RefuseAsync(plan, assessment, options, context).ConfigureAwait(false);
        }

        if (!await AskConsentAsync(plan, selected, interruptedPlan, context).ConfigureAwait(false))
        {
            return null;
        }

        return await new PlanRun(plan, options, context, snapshot, assessment, opened.States, selected, earlier, interruptedPlan).RunAsync().ConfigureAwait(false);
    }

    /// <summary>The components that are where the plan's run left them, read now.</summary>
    internal static async Task<Dictionary<string, VersionIdentity>> ReadVersionsAsync(IReadOnlyList<ComponentState> states, EngineContext context)
    {
        var versions = new Dictionary<string, VersionIdentity>(StringComparer.OrdinalIgnoreCase);
        await ForEachAsync(states, 4, async state =>
        {
            var version = await ReadVersionAsync(state).ConfigureAwait(false);
            lock (versions)
            {
                versions[state.Component.Name] = version;
            }
        }, context.Cancellation).ConfigureAwait(false);
        return versions;
    }

    /// <summary>Where the component is now; a component whose version cannot be read says so among its problems.</summary>
    internal static async Task<VersionIdentity> ReadVersionAsync(ComponentState state, bool noteProblem = true)
    {
        try
        {
            return await state.Session.GetCurrentVersionAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException && !noteProblem)
        {
            // The preflight failed already and said why; the same cause needs no second line.
            return new VersionIdentity(null, null);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            lock (state.Assessment)
            {
                state.Assessment.Problems.Add($"Its current version could not be read: {SecretRedactor.Redact(e.Message)}");
            }

            return new VersionIdentity(null, null);
        }
    }

    /// <summary>cancellation: the command's own when not given.</summary>
    internal static async Task<HealthReport> CheckServiceAsync(ServicePlan plan, EngineContext context, CancellationToken? cancellation = null) =>
        plan.Verification.Any
            ? await HealthVerifier.VerifyAsync(plan.Verification.HealthChecks, plan.Verification.SmokeTests, context.Observer, cancellation ?? context.Cancellation).ConfigureAwait(false)
            : new HealthReport { CheckedAt = DateTimeOffset.UtcNow };

    // Before a rollback a failing check needs no second chance beyond one retry: retries are for after a restart.
    private static VerificationOptions Quick(VerificationOptions checks) => checks with
    {
        HealthChecks = checks.HealthChecks.Select(c => c with { Retries = Math.Min(c.Retries, 1), ConfirmsFailure = true }).ToList(),
    };

    internal static async Task ForEachAsync<T>(IEnumerable<T> items, int parallelism, Func<T, Task> action, CancellationToken cancellation)
    {
        using var gate = new SemaphoreSlim(Math.Max(1, parallelism));
        await Task.WhenAll(items.Select(async item =>
        {
            await gate.WaitAsync(cancellation).ConfigureAwait(false);
            try
            {
                await action(item).ConfigureAwait(false);
            }
            finally
            {
                gate.Release();
            }
        })).ConfigureAwait(false);
    }

    /// <summary>A session per component, each given the version the snapshot pins (or none: its own last-good rule).</summary>
    private static async Task<OpenedPlan> OpenAsync(ServicePlan plan, ReleaseSnapshot? snapshot, PlanRunOptions options, EngineContext context)
    {
        var opened = new OpenedPlan();
        var waves = PlanOrder.Waves(plan.Components.Select(c => (c.Name, c.Stage, c.DependsOn)).ToList());
        try
        {
            foreach (var component in plan.Components)
            {
                var recorded = snapshot?.Components.FirstOrDefault(c => c.Name.Equals(component.Name, StringComparison.OrdinalIgnoreCase));
                var request = component.Request with
                {
                    Target = component.Request.Target ?? (recorded is null ? null : StrategyRegistry.SnapshotTarget(component.Request.Deployment, recorded)),
                    Reason = options.Reason ?? component.Request.Reason,
                    Initiator = options.Initiator,
                    FailureType = options.FailureType ?? component.Request.FailureType,
                    WebhookUri = options.WebhookUri ?? component.Request.WebhookUri,
                    LockTimeout = options.LockTimeout,
                    Escalation = options.Escalation,
                    Force = options.Force || component.Request.Force,
                    CheckpointDirectory = options.CheckpointDirectory is null ? null : Path.Combine(options.CheckpointDirectory, component.Name),
                    CheckpointName = options.CheckpointName is null ? component.Request.CheckpointName : $"{options.CheckpointName}-{component.Name}",
                };
                var session = StrategyRegistry.Open(request, context);
                opened.States.Add(new ComponentState(component, request, session, recorded)
                {
                    Assessment = new ComponentAssessment
                    {
                        Name = component.Name, Strategy = request.Strategy, TargetKey = session.Target.Key, Stage = component.Stage,
                        Wave = waves[component.Name], DependsOn = component.DependsOn.ToList(), SnapshotVersion = recorded?.Version,
                    },
                });
            }
        }
        catch
        {
            await opened.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return opened;
    }

    /// <summary>Where every component is, whether it passes its checks, what its rollback would do and what would stop it; then which go back.</summary>
    /// <summary>serviceCheck: the service's checks when the caller started them already.</summary>
    private static async Task<PlanAssessment> AssessOpenedAsync(ServicePlan plan, ReleaseSnapshot? snapshot, PlanRunOptions options, OpenedPlan opened, bool deep, EngineContext context, Task<HealthReport>? serviceCheck = null)
    {
        var activity = $"Assessing {plan.Service}";
        context.Observer.Progress(new ProgressUpdate(activity, $"{opened.States.Count} components"));
        serviceCheck ??= CheckServiceAsync(plan with { Verification = Quick(plan.Verification) }, context);
        await ForEachAsync(opened.States, options.Parallelism, async state =>
        {
            // The preflight's plan says where the component is (one read less per component); only when it fails is the version read apart.
            await PreflightAsync(state, context).ConfigureAwait(false);
            var now = state.Plan is { } planned ? new VersionIdentity(planned.FromVersion, planned.FromIdentity) : await ReadVersionAsync(state, noteProblem: false).ConfigureAwait(false);
            var found = state.Assessment;
            found.CurrentVersion = now.Version;
            found.Differs = state.Recorded is null || now.Version is null && now.Identity is null ? null : !ReleaseSnapshots.Matches(state.Recorded, now);
            var own = Quick(state.Request.Verification);
            if (own.Any)
            {
                found.Health = await HealthVerifier.VerifyAsync(own.HealthChecks, own.SmokeTests, context.Observer, context.Cancellation).ConfigureAwait(false);
            }
            if (deep)
            {
                try
                {
                    found.Assessment = await RollbackEngine.AssessAsync(state.Request with { Verification = new VerificationOptions() }, context).ConfigureAwait(false);
                }
                catch (RollbackException e) when (!found.Problems.Contains($"{e.Message} ({e.ErrorId})"))
                {
                    found.Problems.Add($"{e.Message} ({e.ErrorId})");
                    found.CanRollBack = false;
                }
                catch (RollbackException)
                {
                    // The preflight met the same error and listed it.
                }
            }
        }, context.Cancellation).ConfigureAwait(false);

        // A component without checks of its own is judged by the service's.
        var service = await serviceCheck.ConfigureAwait(false);
        foreach (var found in opened.States.Select(s => s.Assessment))
        {
            found.Health ??= plan.Verification.Any ? service : null;
            found.Healthy = found.Health?.Healthy;
        }

        Select(plan, options, opened.States);
        context.Observer.Progress(new ProgressUpdate(activity, "Done", Completed: true));
        return new PlanAssessment
        {
            Service = plan.Service, TargetKey = plan.TargetKey, PlanPath = plan.Path, StateDirectory = context.State.Directory,
            AssessedAt = DateTimeOffset.UtcNow, ReleaseId = snapshot?.ReleaseId, ReleaseLabel = snapshot?.Label,
            Health = plan.Verification.Any ? service : null,
            Components = opened.States.Select(s => s.Assessment).OrderBy(c => c.Wave).ThenBy(c => c.Name, StringComparer.OrdinalIgnoreCase).ToList(),
        };
    }

    /// <summary>The component's rollback planned (nothing changes): its steps, and every reason it could not go back.</summary>
    private static async Task PreflightAsync(ComponentState state, EngineContext context)
    {
        var found = state.Assessment;
        try
        {
            var planned = await state.Session.PlanAsync().ConfigureAwait(false);
            state.Plan = planned;
            found.FromVersion = planned.FromVersion;
            found.ToVersion = planned.ToVersion;
            found.Preview = planned.SkipReason is { } skip ? new List<string> { "Nothing to roll back: " + skip } : planned.Steps.Where(s => s.Mutates).Select(s => s.Description).ToList();
            found.Problems.AddRange(planned.Blockers);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            found.Problems.Add(e is RollbackException known ? $"{known.Message} ({known.ErrorId})" : SecretRedactor.Redact(e.Message));
        }

        found.CanRollBack = found.Problems.Count == 0;
    }

    /// <summary>
    /// Partial by default: the components that differ from the snapshot and fail their checks, and those that depend
    /// on one going back; -Component names them; -All takes every one; -SkipComponent leaves one out. A component with
    /// nothing to change never goes back.
    /// </summary>
    private static void Select(ServicePlan plan, PlanRunOptions options, IReadOnlyList<ComponentState> states)
    {
        foreach (var state in states)
        {
            var found = state.Assessment;
            var nothingToDo = state.Plan?.SkipReason;
            var differs = found.Differs ?? true;
            (found.Selected, found.SelectionReason) =
                options.Components.Count > 0 ? options.Components.Contains(found.Name, StringComparer.OrdinalIgnoreCase)
                    ? (true, "named with -Component")
                    : (false, "not named with -Component")
                : options.All ? (true, "-All")
                : nothingToDo is not null && state.Plan is not null ? (false, "nothing to roll back: " + nothingToDo)
                : !differs ? (false, "matches the release snapshot")
                : found.Healthy == false ? (true, found.Differs is null ? "fails its checks (no release snapshot records it)" : $"differs from the release snapshot ({found.SnapshotVersion} there, {found.CurrentVersion} now) and fails its checks")
                : found.Healthy is null ? (false, "differs from the release snapshot, but nothing checks it (give it HealthCheckUri or SmokeTest, or the service)")
                : (false, "differs from the release snapshot, but passes its checks");
        }

        // A component that needs one going back goes back too (its new version may need the new one).
        var chosen = states.Where(s => s.Assessment.Selected).Select(s => s.Component.Name).ToList();
        if (options.Components.Count == 0)
        {
            foreach (var name in chosen)
            {
                foreach (var dependant in PlanOrder.Dependants(plan, name))
                {
                    var state = states.First(s => s.Component.Name.Equals(dependant, StringComparison.OrdinalIgnoreCase));
                    if (!state.Assessment.Selected && state.Plan is { SkipReason: null })
                    {
                        (state.Assessment.Selected, state.Assessment.SelectionReason) = (true, $"depends on {name}, which goes back");
                    }
                }
            }
        }

        foreach (var state in states)
        {
            var skip = options.Skip.FirstOrDefault(s => s.Key.Equals(state.Component.Name, StringComparison.OrdinalIgnoreCase));
            if (skip.Key is not null)
            {
                (state.Assessment.Selected, state.Assessment.SelectionReason) = (false, "left out with -SkipComponent: " + skip.Value);
            }
        }
    }

    /// <summary>A selected component that cannot go back stops the plan before anything changes, with every problem listed at once.</summary>
    private static async Task RefuseAsync(ServicePlan plan, PlanAssessment assessment, PlanRunOptions options, EngineContext context)
    {
        var problems = assessment.Problems;
        var message = $"Nothing was changed: {problems.Count} problem(s) would stop the rollback of {plan.Service}:{Environment.NewLine}  " +
            string.Join(Environment.NewLine + "  ", problems) + Environment.NewLine +
            "Fix them, or leave those components out with -SkipComponent <name> (the reason is recorded); an irreversible migration means rolling forward.";
        if (!await context.Observer.ShouldProcessAsync(plan.TargetKey, $"Record the failed preflight and signal {SignalNames.ManualInterventionRequired}").ConfigureAwait(false))
        {
            throw new RollbackException(ErrorIds.PlanPreflightFailed, RollbackErrorKind.InvalidOperation, message) { TargetName = plan.TargetKey };
        }

        context.State.Journal.AddEvent(new JournalEvent(plan.TargetKey, null, DateTimeOffset.UtcNow, "PreflightFailed", JsonSerializer.Serialize(problems, Journal.JsonOptions)));
        try
        {
            // A person has to decide (roll forward, restore by hand, or leave the component out): say so where people are paged.
            await new SignalStore(context.State).EmitAsync(SignalNames.ManualInterventionRequired,
                new Dictionary<string, object?> { ["reason"] = "preflight failed", ["service"] = plan.Service, ["problems"] = problems, ["release"] = assessment.ReleaseId },
                plan.TargetKey, options.WebhookUri, context.Observer, context.Cancellation).ConfigureAwait(false);
        }
        catch (RollbackException e)
        {
            context.Observer.Warning($"The signal {SignalNames.ManualInterventionRequired} was not emitted: {e.Message}");
        }

        throw new RollbackException(ErrorIds.PlanPreflightFailed, RollbackErrorKind.InvalidOperation, message) { TargetName = plan.TargetKey };
    }

    /// <summary>Every step of every selected component, in the order they would run, is put to the host before anything changes.</summary>
    private static async Task<bool> AskConsentAsync(ServicePlan plan, IReadOnlyList<ComponentState> selected, RollbackResult? interruptedPlan, EngineContext context)
    {
        var consented = true;
        foreach (var state in selected)
        {
            var found = state.Assessment;
            var prefix = $"[wave {found.Wave.ToString(CultureInfo.InvariantCulture)}, {found.Name}] ";
            if (state.Plan is { SkipReason: { } skip })
            {
                consented &= await context.Observer.ShouldProcessAsync(found.TargetKey, prefix + $"Nothing to roll back ({skip}); record a Skipped attempt").ConfigureAwait(false);
                continue;
            }

            consented &= await context.Observer.ShouldProcessAsync(found.TargetKey, prefix + $"Create checkpoint of the failed state {found.FromVersion} in {context.State.Describe(context.State.CheckpointsDirectory)}").ConfigureAwait(false);
            foreach (var step in found.Preview)
            {
                consented &= await context.Observer.ShouldProcessAsync(found.TargetKey, prefix + step).ConfigureAwait(false);
            }

            if (state.Request.RestartScript is { } restart)
            {
                consented &= await context.Observer.ShouldProcessAsync(found.TargetKey, prefix + $"Run the restart script {restart.Name}").ConfigureAwait(false);
            }
        }

        if (plan.RestartScript is { } serviceRestart && (selected.Count > 0 || interruptedPlan is not null))
        {
            consented &= await context.Observer.ShouldProcessAsync(plan.TargetKey, $"Run the service's restart script {serviceRestart.Name}" +
                (selected.Count == 0 ? $" (attempt {interruptedPlan!.AttemptId} was interrupted before the service was restarted and verified)" : "")).ConfigureAwait(false);
        }

        if (selected.Count == 0 && interruptedPlan is null)
        {
            consented &= await context.Observer.ShouldProcessAsync(plan.TargetKey, "Nothing to roll back; record a Skipped attempt of the plan").ConfigureAwait(false);
        }

        return consented;
    }

    /// <summary>One component's session for the length of a plan command, with what was learnt of it.</summary>
    internal sealed class ComponentState(PlanComponent component, RollbackRequest request, IRollbackSession session, ComponentVersion? recorded)
    {
        public PlanComponent Component { get; } = component;
        public RollbackRequest Request { get; } = request;
        public IRollbackSession Session { get; } = session;
        public ComponentVersion? Recorded { get; } = recorded;
        public required ComponentAssessment Assessment { get; init; }
        public RollbackPlan? Plan { get; set; }
    }

    /// <summary>The sessions and locks a plan command holds; released in reverse, also after an error.</summary>
    private sealed class OpenedPlan : IAsyncDisposable
    {
        public List<ComponentState> States { get; } = new();
        public List<IAsyncDisposable> Locks { get; } = new();

        public async ValueTask DisposeAsync()
        {
            foreach (var held in Enumerable.Reverse(Locks))
            {
                await held.DisposeAsync().ConfigureAwait(false);
            }

            foreach (var state in States)
            {
                await state.Session.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
