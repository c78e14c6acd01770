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
        var assessedSummary = AssessmentSummary.Latest(assessments);

        var type = requestedType is { } explicitType && explicitType != FailureType.Unknown ? explicitType
            : assessedSummary?.ParseFailureType() is { } assessedType and not FailureType.Unknown ? assessedType
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

        var (firstSignal, firstAssessment) = (inputs.FirstOrDefault()?.Time, assessments.FirstOrDefault()?.At);
        var detected = firstSignal is null || firstAssessment < firstSignal ? firstAssessment : firstSignal;
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

/// <summary>
/// What the journal keeps of an assessment (enough for reports and checklists). The failure type is kept as its name,
/// as the journal's enum converter writes it, through a string: for a property of an enum type System.Text.Json
/// compiles some 80 generic methods at run time, which was a fifth of a first assessment in a fresh process.
/// </summary>
public sealed record AssessmentSummary(string FailureType, string? FailureReason, string? CurrentVersion, string? LastGoodVersion, IReadOnlyList<string> Errors)
{
    public static AssessmentSummary Of(DeploymentRollback.FailureType type, string? reason, string? currentVersion, string? lastGoodVersion, IReadOnlyList<string> errors) =>
        new(type.ToString(), reason, currentVersion, lastGoodVersion, errors);

    /// <summary>
    /// The record as the journal keeps it, written with Utf8JsonWriter rather than the serializer, whose metadata for
    /// the record is built on first use (about 15 ms of a first assessment in a fresh process). The same text as
    /// JsonSerializer.Serialize with the journal's options: the same order, names, nulls and escaping.
    /// </summary>
    public string ToJson()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString(nameof(FailureType), FailureType);
            writer.WriteString(nameof(FailureReason), FailureReason);
            writer.WriteString(nameof(CurrentVersion), CurrentVersion);
            writer.WriteString(nameof(LastGoodVersion), LastGoodVersion);
            writer.WriteStartArray(nameof(Errors));
            foreach (var error in Errors)
            {
                writer.WriteStringValue(error);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>
    /// Reads a journaled summary with JsonDocument rather than the serializer, whose binding of a record's constructor
    /// parameters compiles some 40 generic methods at run time in a fresh process. Invalid JSON throws JsonException, as
    /// the serializer does.
    /// </summary>
    public static AssessmentSummary FromJson(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException("An assessment record is not a JSON object.");
        }

        string? Text(string name) => root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
        var errors = new List<string>();
        if (root.TryGetProperty(nameof(Errors), out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var error in list.EnumerateArray())
            {
                if (error.ValueKind == JsonValueKind.String)
                {
                    errors.Add(error.GetString()!);
                }
            }
        }

        return new(Text(nameof(FailureType)) ?? nameof(DeploymentRollback.FailureType.Unknown), Text(nameof(FailureReason)), Text(nameof(CurrentVersion)), Text(nameof(LastGoodVersion)), errors);
    }

    /// <summary>The newest of these Assessed events that reads as a summary; a damaged record is passed over, as other history readers do.</summary>
    public static AssessmentSummary? Latest(IReadOnlyList<JournalEvent> assessed)
    {
        for (var i = assessed.Count - 1; i >= 0; i--)
        {
            try
            {
                return FromJson(assessed[i].Detail);
            }
            catch (JsonException)
            {
                // Damaged or from another version: an older assessment still says what failed.
            }
        }

        return null;
    }

    /// <summary>The failure type; Unknown for a name this build does not know. A method: even an ignored property gets metadata of its type.</summary>
    public DeploymentRollback.FailureType ParseFailureType() =>
        Enum.TryParse(typeof(DeploymentRollback.FailureType), FailureType, ignoreCase: false, out var type) && type is DeploymentRollback.FailureType known ? known : DeploymentRollback.FailureType.Unknown;
}
