using System.Text.Json;
using System.Text.Json.Nodes;

namespace DeploymentRollback.Engine.FeatureFlag;

/// <summary>
/// Strategy D, the kill switch: turn a flag off (or, with -Restore, back to the state recorded before), in Unleash,
/// LaunchDarkly, a generic HTTP endpoint, a flagd file or .NET feature management settings.
/// </summary>
public sealed class FeatureFlagSession : IRollbackSession, ISwitchesAtOnce
{
    private const string StepSwitch = "SwitchFlag";
    private const string Enabled = "enabled";
    private const string Disabled = "disabled";
    private const string DefinitionArtefact = "flag-definition.json";

    // A plan's reading is the checkpoint's too when it is this recent: the state the switch starts from is read once.
    private static readonly TimeSpan PlanReadingValidFor = TimeSpan.FromSeconds(2);

    // What -Restore puts back (one strategy instance serves one invocation).
    private string? recordedDefinition;

    // The reading the plan decided on, and when it was taken.
    private (FlagReading Reading, DateTimeOffset At)? planReading;

    private readonly RollbackRequest request;
    private readonly EngineContext context;

    // The first reading, started with the session so that it overlaps the lock and the journal's checks; used by the
    // first read only while it is as recent as a plan's reading may be (after a long wait for the lock it is taken again).
    private Task<FlagReading>? early;
    private readonly DateTimeOffset earlyAt;

    public FeatureFlagSession(RollbackRequest request, EngineContext context)
    {
        this.request = request;
        this.context = context;
        Target = ResolveTarget(request);
        earlyAt = DateTimeOffset.UtcNow;
        early = Task.Run(() => FlagProvider.Create(request).ReadAsync(context.Cancellation), context.Cancellation);
    }

    public TargetIdentity Target { get; }

    private string Name => request.Strategy;

    private static FeatureFlagTarget Of(RollbackRequest request) => request.DeploymentAs<FeatureFlagTarget>();

    public ValueTask DisposeAsync()
    {
        // A reading nobody used (the command stopped before it read): its failure is nobody's error.
        Interlocked.Exchange(ref early, null)?.DropFaults();
        return ValueTask.CompletedTask;
    }

    /// <summary>The flag as the provider has it now: the session's first reading when still recent, else a new one.</summary>
    private async Task<FlagReading> ReadAsync()
    {
        if (Interlocked.Exchange(ref early, null) is { } started)
        {
            if (DateTimeOffset.UtcNow - earlyAt <= PlanReadingValidFor)
            {
                return await started.ConfigureAwait(false);
            }

            started.DropFaults();
        }

        return await FlagProvider.Create(request).ReadAsync(context.Cancellation).ConfigureAwait(false);
    }

    private static TargetIdentity ResolveTarget(RollbackRequest request)
    {
        var provider = FlagProvider.Create(request);
        return new TargetIdentity($"flag:{Of(request).Provider!.ToLowerInvariant()}:{provider.Location}#{Of(request).Flag}", provider.Location);
    }

    public async Task<StrategyAssessment> AssessAsync()
    {
        var reading = await ReadAsync().ConfigureAwait(false);
        var state = Describe(reading.Enabled) ?? LastSetByUs(context, request);
        return new StrategyAssessment
        {
            CurrentVersion = state,
            LastGoodVersion = Disabled,
            LastGoodSource = "the kill switch: a flag turned off leaves the code path it guards unused",
            AffectedComponents = new[] { Of(request).Flag! },
            Facts = new Dictionary<string, string> { ["provider"] = Of(request).Provider!, ["flag"] = Of(request).Flag!, ["state"] = state ?? "unknown", ["definition"] = SecretRedactor.Redact(reading.Document) },
            Rationale = state == Disabled
                ? $"Flag '{Of(request).Flag}' is already off; nothing to switch."
                : $"Turn flag '{Of(request).Flag}' off{(Of(request).Environment is null ? "" : " in " + Of(request).Environment)} so the failing feature is no longer served; its state is checkpointed so -Restore can turn it back on.",
        };
    }

    public async Task<VersionIdentity> CaptureCheckpointAsync(CheckpointWriter writer)
    {
        // Consent given at a prompt can take long: an older reading is taken again.
        var reading = planReading is { } planned && DateTimeOffset.UtcNow - planned.At <= PlanReadingValidFor
            ? planned.Reading
            : await ReadAsync().ConfigureAwait(false);
        var state = Describe(reading.Enabled) ?? LastSetByUs(context, request) ?? "unknown";
        writer.AddText(DefinitionArtefact, reading.Definition?.ToJsonString() ?? reading.Document);
        writer.Details["flag"] = Of(request).Flag!;
        writer.Details["provider"] = Of(request).Provider!;
        writer.Details["state"] = state;
        return (state, null);
    }

    public async Task<RollbackPlan> PlanAsync()
    {
        var target = Target;
        var provider = FlagProvider.Create(request);
        var reading = await ReadAsync().ConfigureAwait(false);
        planReading = (reading, DateTimeOffset.UtcNow);
        var current = Describe(reading.Enabled) ?? LastSetByUs(context, request);
        var wanted = Of(request).Restore ? Enabled : Disabled;
        if (Of(request).Restore)
        {
            // The state before the flag was switched off is the newest checkpoint of this flag taken while it was on.
            var before = new CheckpointStore(context.State).List(target.Key).FirstOrDefault(c => c.Details.TryGetValue("state", out var s) && s == Enabled)
                ?? throw new RollbackException(ErrorIds.FlagRestoreStateMissing, RollbackErrorKind.InvalidOperation,
                    $"No checkpoint records flag '{Of(request).Flag}' as on, so there is no earlier state to restore. Turn it on in the flag service itself.")
                { TargetName = target.Key };
            recordedDefinition = provider is FileFlagProvider ? RecordedDefinition(System.IO.Path.Combine(before.Folder, DefinitionArtefact), reading.Document, target.Key) : null;
        }

        return new RollbackPlan
        {
            Strategy = Name,
            TargetKey = target.Key,
            Path = target.Location,
            FromVersion = current ?? "unknown",
            ToVersion = wanted,
            Changes = new[] { $"flag {Of(request).Flag}: {current ?? "unknown"}" },
            SkipReason = current == wanted ? $"Flag '{Of(request).Flag}' is already {wanted}." : null,
            Steps = new[]
            {
                new PlanStep
                {
                    Order = 1, Action = StepSwitch, Target = Of(request).Flag!,
                    Description = $"Turn flag '{Of(request).Flag}' {(Of(request).Restore ? "back on (as recorded before it was switched off)" : "off")}" +
                        $"{(Of(request).Environment is null ? "" : " in " + Of(request).Environment)} through {Of(request).Provider} at {target.Location}",
                },
            },
        };
    }

    public async Task<StepResult> ExecuteStepAsync(PlanStep step, RollbackPlan plan, RollbackCheckpoint checkpoint)
    {
        var started = DateTimeOffset.UtcNow;
        var provider = FlagProvider.Create(request);
        await provider.WriteAsync(Of(request).Restore, recordedDefinition, context.Cancellation).ConfigureAwait(false);
        var after = await provider.ReadAsync(context.Cancellation).ConfigureAwait(false);
        var wanted = Of(request).Restore;
        var confirmed = after.Enabled is null || after.Enabled == wanted;
        return new StepResult
        {
            Name = $"{step.Action} {step.Target}",
            StartedAt = started,
            Duration = DateTimeOffset.UtcNow - started,
            Status = confirmed ? StepStatus.Succeeded : StepStatus.Failed,
            Message = confirmed
                ? $"Flag '{Of(request).Flag}' is now {(wanted ? Enabled : Disabled)}{(after.Enabled is null ? " (the endpoint accepted the change; it cannot be read back)" : ", read back from the provider")}."
                : $"The provider accepted the change, but flag '{Of(request).Flag}' still reads {Describe(after.Enabled)}.",
        };
    }

    public Task<StepResult?> CompleteAsync(RollbackPlan plan, bool verified) => Task.FromResult<StepResult?>(null);

    public async Task<VersionIdentity> GetCurrentVersionAsync()
    {
        var reading = await ReadAsync().ConfigureAwait(false);
        return (Describe(reading.Enabled) ?? LastSetByUs(context, request), null);
    }

    public Task<bool> CaptureVerifiedSnapshotAsync(string folder) => Task.FromResult(false);

    /// <summary>
    /// The flag's definition as the checkpoint kept it, for a file provider's -Restore. The copy is redacted (it is for
    /// people): a masked value is filled from the live definition at the same key path, and when that is impossible the
    /// restore is refused rather than writing the mask into a live flag file.
    /// </summary>
    private static string? RecordedDefinition(string artefact, string liveDefinition, string targetKey)
    {
        if (!File.Exists(artefact))
        {
            return null;
        }

        var recorded = File.ReadAllText(artefact);
        try
        {
            JsonNode.Parse(recorded, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new RollbackException(ErrorIds.FeatureFlagRestoreUnreadable, RollbackErrorKind.InvalidOperation,
                $"The recorded definition {artefact} is not JSON ({e.Message}); it cannot be put back. Turn the flag back on by hand.", e)
            { TargetName = targetKey };
        }

        var (restored, unrestorable) = DocumentSecrets.Refill(recorded, liveDefinition, DefinitionArtefact);
        return unrestorable.Count == 0
            ? restored
            : throw new RollbackException(ErrorIds.FlagRestoreStateMissing, RollbackErrorKind.InvalidOperation,
                $"The recorded definition in {artefact} held secret values ({string.Join(", ", unrestorable)}) that are never stored and that the live file no longer has, so it cannot be put back exactly. Turn the flag back on by hand.")
            { TargetName = targetKey };
    }

    private static string? Describe(bool? enabled) => enabled switch { true => Enabled, false => Disabled, null => null };

    /// <summary>
    /// For a write-only endpoint: the state this module's last successful switch left the flag in; before any, the flag
    /// is taken to be on (a kill switch is pulled on a flag that is on), which is what -Restore later puts back.
    /// </summary>
    private string LastSetByUs(EngineContext context, RollbackRequest request) => context.State.Journal.LastRollbackTarget(Target.Key) ?? Enabled;
}
