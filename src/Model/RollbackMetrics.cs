namespace DeploymentRollback;

/// <summary>Recovery metrics of a target, a strategy or everything, computed from the journal (Get-RollbackMetrics).</summary>
public sealed class RollbackMetrics
{
    /// <summary>What the figures are about: a target key, a strategy, or "all".</summary>
    public string Scope { get; set; } = "";
    /// <summary>Target, Strategy or All.</summary>
    public string GroupedBy { get; set; } = "";
    public DateTimeOffset? Since { get; set; }
    /// <summary>Distinct versions the journal saw: recorded verified-good, or rolled back from.</summary>
    public int Deployments { get; set; }
    /// <summary>Distinct versions some rollback attempt set out to leave.</summary>
    public int FailedDeployments { get; set; }
    /// <summary>FailedDeployments / Deployments (DORA's change failure rate); null without deployments.</summary>
    public double? ChangeFailureRate { get; set; }
    /// <summary>Rollback attempts that changed or tried to change something (Skipped ones are left out).</summary>
    public int Rollbacks { get; set; }
    public int SucceededRollbacks { get; set; }
    public double? RollbackSuccessRate { get; set; }
    /// <summary>Rollbacks started on their own (by a watcher or an alert listener; Initiator set).</summary>
    public int AutomaticRollbacks { get; set; }
    /// <summary>Rollbacks started by a person or a runbook (no Initiator).</summary>
    public int ManualRollbacks { get; set; }
    /// <summary>Attempts escalated to a person (MANUAL_INTERVENTION_REQUIRED).</summary>
    public int Escalations { get; set; }
    public double? EscalationRate { get; set; }
    /// <summary>Succeeded, verified rollbacks: each one's time from the first failure signal to verified healthy.</summary>
    public int Recoveries { get; set; }
    public TimeSpan? RecoveryTimeMedian { get; set; }
    public TimeSpan? RecoveryTimeP90 { get; set; }
    public TimeSpan? RecoveryTimeWorst { get; set; }
}
