using System.Globalization;

namespace DeploymentRollback.Engine;

/// <summary>
/// An inbound alert as the module's signal about a target: not written anywhere (no file, no state folder), ready to be
/// sent. Its data says what the alert said, secrets redacted, and whether to act on it (a resolved alert is recorded only).
/// </summary>
public static class AlertSignals
{
    public const string SourcePrefix = "urn:deployment-rollback:alert:";

    /// <param name="alert">The alert.</param>
    /// <param name="subject">Its target key.</param>
    /// <param name="signalName">A name that overrides the alert's own (-SignalName).</param>
    /// <param name="stateDirectory">The state folder the signal would be sent to by default (a piped signal lands there).</param>
    public static RollbackSignal ToSignal(InboundAlert alert, string subject, string? signalName = null, string stateDirectory = "")
    {
        var name = signalName ?? alert.SignalName;
        SignalStore.ValidateName(name);
        SignalStore.ValidateSubject(subject);
        var data = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["reason"] = alert.Reason,
            ["status"] = alert.StatusText,
            [SignalStore.ActKey] = alert.Act,
            ["alert_name"] = alert.AlertName,
            ["source_format"] = alert.Source.ToString(),
            ["group_key"] = alert.GroupKey,
            ["fingerprint"] = alert.Fingerprint,
            ["labels"] = Values(alert.Labels),
            ["annotations"] = Values(alert.Annotations),
            ["summary"] = alert.Summary,
            ["severity"] = alert.Severity,
            ["starts_at"] = Stamp(alert.StartsAt),
        };
        if (alert.EndsAt is { } ends)
        {
            data["ends_at"] = Stamp(ends);
        }

        // What Get-RollbackAssessment reads as the kind of failure; an alert's own failure_type label wins.
        if (alert.Labels.TryGetValue("failure_type", out var failureType))
        {
            data["failure_type"] = failureType;
        }
        else if (name == SignalNames.HealthCheckFailed)
        {
            data["failure_type"] = "health_check_failed";
        }

        return new RollbackSignal
        {
            Id = Guid.NewGuid().ToString("N"),
            Name = name,
            Type = SignalStore.TypePrefix + name,
            Source = SourcePrefix + alert.Source.ToString().ToLowerInvariant(),
            Subject = subject,
            Time = (alert.Act ? alert.StartsAt : alert.EndsAt) ?? DateTimeOffset.UtcNow,
            Data = SignalStore.Redact(data),
            StateDirectory = stateDirectory,
        };
    }

    private static Dictionary<string, object?> Values(IReadOnlyDictionary<string, string> map) =>
        map.OrderBy(pair => pair.Key, StringComparer.Ordinal).ToDictionary(pair => pair.Key, pair => (object?)pair.Value, StringComparer.Ordinal);

    private static string? Stamp(DateTimeOffset? time) =>
        time?.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);
}
