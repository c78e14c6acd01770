namespace DeploymentRollback.Engine;

/// <summary>The monitoring system an alert came from, told by the payload's shape.</summary>
public enum AlertSource
{
    AzureMonitor,
    Alertmanager,
    Grafana,
    CloudEvents,
}

public enum AlertStatus
{
    Firing,
    Resolved,
}

/// <summary>
/// One alert of an inbound payload, whatever its format: a payload of Alertmanager or Grafana holds several, one of
/// Azure Monitor or a single CloudEvent one. Labels hold what identifies the alert's subject (service, namespace, the
/// Azure resource); annotations what describes it.
/// </summary>
public sealed record InboundAlert
{
    public required AlertSource Source { get; init; }

    public required AlertStatus Status { get; init; }

    public required string AlertName { get; init; }

    /// <summary>What alerts sent together share: Alertmanager's and Grafana's groupKey, Azure's alertId, a CloudEvent's groupkey extension or id.</summary>
    public string? GroupKey { get; init; }

    /// <summary>The alert itself, the same when it fires and when it resolves: Alertmanager's and Grafana's fingerprint, Azure's alertId, a CloudEvent's id.</summary>
    public string? Fingerprint { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = EmptyMap;

    public IReadOnlyDictionary<string, string> Annotations { get; init; } = EmptyMap;

    public string? Summary { get; init; }

    public string? Severity { get; init; }

    public DateTimeOffset? StartsAt { get; init; }

    /// <summary>When the alert resolved; only set for resolved alerts (a firing Alertmanager alert's endsAt is only a time-out).</summary>
    public DateTimeOffset? EndsAt { get; init; }

    /// <summary>DEPLOYMENT_FAILED or HEALTH_CHECK_FAILED (or the name a signal label or CloudEvent type asked for).</summary>
    public required string SignalName { get; init; }

    /// <summary>Only a firing alert is acted on; a resolved one is recorded.</summary>
    public bool Act => Status == AlertStatus.Firing;

    public string StatusText => Status == AlertStatus.Firing ? "firing" : "resolved";

    /// <summary>A sentence for people and for the signal's reason, such as "Alertmanager alert HighErrorRate firing: error ratio 0.41 &gt; 0.2".</summary>
    public string Reason => $"{AlertPayload.Describe(Source)} alert {AlertName} {StatusText}" + (string.IsNullOrWhiteSpace(Summary) ? "" : ": " + Summary);

    internal static readonly IReadOnlyDictionary<string, string> EmptyMap = new Dictionary<string, string>(StringComparer.Ordinal);
}
