namespace DeploymentRollback;

/// <summary>What a watcher does with a measurement that returned nothing (an empty PromQL result).</summary>
public enum NoDataPolicy
{
    /// <summary>Neither a pass nor a failure: the round counts only the other measurements.</summary>
    Ignore,
    /// <summary>A failure of the application.</summary>
    Fail,
    /// <summary>The watcher pauses and asks for a person (MANUAL_INTERVENTION_REQUIRED).</summary>
    Inconclusive,
}

/// <summary>How one measurement came out: the application passed or failed, the probe itself failed (Error), or nothing came back.</summary>
public enum MeasurementOutcome
{
    Passed,
    Failed,
    Error,
    NoData,
}

/// <summary>One measurement of one probe in one round.</summary>
public sealed class WatchMeasurement
{
    public string TargetKey { get; set; } = "";
    public int Round { get; set; }
    public DateTimeOffset At { get; set; }
    /// <summary>http, smoke or prometheus.</summary>
    public string Probe { get; set; } = "";
    /// <summary>The URL, smoke test name or PromQL expression measured.</summary>
    public string Name { get; set; } = "";
    public double? Value { get; set; }
    /// <summary>What passing means, e.g. "< 0.05" or "2xx".</summary>
    public string Condition { get; set; } = "";
    public MeasurementOutcome Outcome { get; set; }
    public string Message { get; set; } = "";
    public bool Passed => Outcome == MeasurementOutcome.Passed;
}

/// <summary>What a watcher decided after a round: nothing, roll back, or not (and why).</summary>
public sealed class WatchDecision
{
    public string TargetKey { get; set; } = "";
    /// <summary>Who decided: watcher or listener.</summary>
    public string By { get; set; } = "";
    public bool DryRun { get; set; }
    public int Round { get; set; }
    public DateTimeOffset At { get; set; }
    /// <summary>RolledBack, WouldRollBack (-DryRun), Quarantined, CoolingDown, Paused, Resumed, AlreadyHandled.</summary>
    public string Action { get; set; } = "";
    public string Reason { get; set; } = "";
    public string? Version { get; set; }
    public string? AttemptId { get; set; }
}

/// <summary>A watch from start to end: every round's verdict, the decisions and the rollbacks it ran.</summary>
public sealed class WatchReport
{
    public string TargetKey { get; set; } = "";
    public string StateDirectory { get; set; } = "";
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset EndedAt { get; set; }
    /// <summary>Why the watch ended: DurationElapsed, Once, Stopped (Ctrl+C or SIGTERM).</summary>
    public string EndReason { get; set; } = "";
    public int Rounds { get; set; }
    public int PassedRounds { get; set; }
    public int FailedRounds { get; set; }
    public int ErrorRounds { get; set; }
    public int NoDataRounds { get; set; }
    public bool DryRun { get; set; }
    /// <summary>True when the watcher ended waiting for a person (inconclusive, probe errors, a quarantined version failing again).</summary>
    public bool Paused { get; set; }
    public List<WatchDecision> Decisions { get; set; } = new();
    public List<RollbackResult> Rollbacks { get; set; } = new();
    /// <summary>The newest measurements (at most 100), the last round's last.</summary>
    public List<WatchMeasurement> Measurements { get; set; } = new();
}
