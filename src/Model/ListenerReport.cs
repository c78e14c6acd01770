namespace DeploymentRollback;

/// <summary>What an alert listener received and did, from its start to its stop.</summary>
public sealed class ListenerReport
{
    public string? TargetKey { get; set; }
    public List<string> Prefixes { get; set; } = new();
    public string StateDirectory { get; set; } = "";
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset EndedAt { get; set; }
    /// <summary>Why it ended: DurationElapsed or Stopped (Ctrl+C or SIGTERM).</summary>
    public string EndReason { get; set; } = "";
    public int Requests { get; set; }
    /// <summary>Answered 202: the payload was read and its alerts recorded.</summary>
    public int Accepted { get; set; }
    /// <summary>Answered 401: no valid bearer token or signature.</summary>
    public int Unauthorized { get; set; }
    /// <summary>Answered 400, 405 or 413: not an alert payload, not a POST, or too large.</summary>
    public int Invalid { get; set; }
    public int Alerts { get; set; }
    public int Firing { get; set; }
    public int Resolved { get; set; }
    /// <summary>Alerts whose group was already known in that state (a sender's repeat): not signalled again.</summary>
    public int Duplicates { get; set; }
    /// <summary>Alerts that named no target the listener could map.</summary>
    public int Unmapped { get; set; }
    public List<WatchDecision> Decisions { get; set; } = new();
    public List<RollbackResult> Rollbacks { get; set; } = new();
}
