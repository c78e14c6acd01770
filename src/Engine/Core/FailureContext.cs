using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>
/// What is known about the failure being rolled back: from the caller, the latest assessment,
/// and the latest DEPLOYMENT_FAILED / HEALTH_CHECK_FAILED signal for the target since its last attempt.
/// </summary>
public sealed record FailureContext(FailureType Type, string? Reason, DateTimeOffset? DetectedAt, IReadOnlyList<string> Errors, RollbackSignal? InputSignal)
{
    public static FailureContext Resolve(StateRoot state, string targetKey, FailureType? requestedType, string? requestedReason)
    {
        var lastAttempt = state.Journal.GetAttempts(targetKey, limit: 1).FirstOrDefault();
        var since = lastAttempt?.CompletedAt > lastAttempt?.StartedAt ? lastAttempt!.CompletedAt : lastAttempt?.StartedAt;
        // A signal recorded but not to be acted on (a resolved alert) says nothing failed.
        var inputs = new SignalStore(state).Read(SignalNames.Inputs, since: since)
            .Where(s => (s.Subject is null || s.Subject == targetKey) && SignalStore.IsActedOn(s.Data)).ToList();
        // The first sign of failure starts the recovery clock; the latest DEPLOYMENT_FAILED (else HEALTH_CHECK_FAILED) says what failed.
        var signal = inputs.LastOrDefault(s => s.Name == SignalNames.DeploymentFailed) ?? inputs.LastOrDefault();
        var assessments = state.Journal.GetEvents(targetKey, since).Where(e => e.Kind == JournalEventKinds.Assessed).ToList();
        var assessed = assessments.LastOrDefault();
        var assessedSummary = assessed is null ? null : JsonSerializer.Deserialize<AssessmentSummary>(assessed.Detail, Journal.JsonOptions);

        var type = requestedType is { } explicitType && explicitType != FailureType.Unknown ? explicitType
            : assessedSummary is { FailureType: not FailureType.Unknown } ? assessedSummary.FailureType
            : signal is null ? FailureType.Unknown
            : FromSignal(signal);
        var reason = requestedReason ?? assessedSummary?.FailureReason ?? SignalText(signal, "reason") ?? SignalText(signal, "error");
        var errors = new List<string>();
        if (assessedSummary is not null)
        {
            errors.AddRange(assessedSummary.Errors);
        }

        if (SignalText(signal, "error") is { } signalError && !errors.Contains(signalError))
        {
            errors.Add(signalError);
        }

        var detected = new[] { inputs.FirstOrDefault()?.Time, assessments.FirstOrDefault()?.At }.Where(t => t is not null).Min();
        return new FailureContext(type, reason, detected, errors, signal);
    }

    private static FailureType FromSignal(RollbackSignal signal)
    {
        if (SignalText(signal, "failure_type") is { } text && Enum.TryParse<FailureType>(text.Replace("_", ""), ignoreCase: true, out var parsed))
        {
            return parsed;
        }

        return signal.Name == SignalNames.HealthCheckFailed ? FailureType.HealthCheckFailed : FailureType.Unknown;
    }

    private static string? SignalText(RollbackSignal? signal, string key) =>
        signal is not null && signal.Data.TryGetValue(key, out var value) && value is not null ? value.ToString() : null;
}

/// <summary>What the journal keeps of an assessment (enough for reports and checklists).</summary>
public sealed record AssessmentSummary(FailureType FailureType, string? FailureReason, string? CurrentVersion, string? LastGoodVersion, IReadOnlyList<string> Errors);
